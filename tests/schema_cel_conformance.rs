//! The offline schema mirror (`moat::constraints::schema`) gives the same answers as the CRDs'
//! own CEL rules. The CRD schemas generated from `src/api` are evaluated with kube-cel (the CEL
//! engine behind kube's `cel` feature) on generated objects, and the verdict (accepted or
//! rejected) is compared with the mirror's SCHEMA findings.
//!
//! Only the CEL rules are compared: OpenAPI bounds (maxLength, maxItems, minimum) are not CEL and
//! kube-cel does not check them, so the generators stay within those bounds, and create-only
//! transition rules (`self == oldSelf`) need an old object and are not part of the mirror.

use kube::CustomResourceExt;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::constraints::{Finding, schema};
use proptest::prelude::*;
use serde_json::{Value, json};

const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn crd_schema<K: CustomResourceExt>() -> kube_cel::CompiledSchema {
    let crd = K::crd();
    let schema = serde_json::to_value(&crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema).unwrap();
    kube_cel::compile_schema(&schema)
}

/// The CEL verdict: the messages of the rules that rejected the object. An error that is not a
/// plain rule failure (an unsupported function, a compile error) fails the test: the comparison
/// would be meaningless.
fn cel(validator: &kube_cel::Validator, schema: &kube_cel::CompiledSchema, obj: &Value) -> Vec<String> {
    match validator.validate_compiled(schema, obj, None) {
        Ok(()) => vec![],
        Err(errs) => errs
            .iter()
            .map(|e| {
                assert!(
                    e.kind == kube_cel::ErrorKind::ValidationFailure,
                    "CEL could not evaluate {:?} on {obj}: {:?} {}",
                    e.rule,
                    e.kind,
                    e.message
                );
                format!("{}: {}", e.field_path, e.message)
            })
            .collect(),
    }
}

/// Mirror rules that have a CEL counterpart (SCHEMA-023 mirrors OpenAPI bounds, not CEL).
fn mirror(findings: Vec<Finding>) -> Vec<String> {
    findings.into_iter().filter(|f| f.rule_id.starts_with("SCHEMA-") && f.rule_id != "SCHEMA-023").map(|f| format!("{}: {}", f.rule_id, f.message)).collect()
}

fn set(v: &mut Value, path: &[&str], val: Value) {
    let mut cur = v;
    for (i, p) in path.iter().enumerate() {
        if i == path.len() - 1 {
            if val.is_null() {
                cur.as_object_mut().unwrap().remove(*p);
            } else {
                cur.as_object_mut().unwrap().insert(p.to_string(), val);
            }
            return;
        }
        cur = cur.as_object_mut().unwrap().entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

fn workspace() -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "SecureWorkspace", "metadata": {"name": "ws"},
        "spec": {
            "subscriptionId": SUB, "resourceGroup": "rg-ml", "location": "westeurope",
            "network": {"vnet": {"name": "vnet-ml", "addressSpace": ["10.20.0.0/16"]}, "privateEndpointSubnet": {"name": "snet-pe", "addressPrefix": "10.20.0.0/24"}},
            "workspace": {"name": "mlw-prod", "imageBuildCompute": "cpu"},
            "storage": {"name": "stml01"}, "keyVault": {"name": "kv-ml-01"},
            "containerRegistry": {"name": "crml01", "sku": "Premium"}, "applicationInsights": {"name": "appi"}
        }
    })
}

fn subnet() -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "ComputeSubnet", "metadata": {"name": "cs"},
        "spec": {
            "workspaceRef": {"name": "ws"}, "name": "snet-inf", "addressPrefix": "10.20.8.0/22", "purpose": "Inference", "expectedNodes": 3,
            "aks": {"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10", "dockerBridgeCidr": "172.18.0.0/16"},
            "outbound": {"extraRules": [{"name": "proxy", "destination": "10.30.0.4", "ports": ["443"]}]},
            "forcedTunneling": {"firewallIp": "10.30.0.4"}
        }
    })
}

fn endpoint() -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding", "metadata": {"name": "pe"},
        "spec": {
            "target": {"id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1"), "groupId": "blob"},
            "subnetId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"),
            "location": "westeurope"
        }
    })
}

const CIDRS: &[&str] = &[
    "10.20.0.0/16", "10.20.0.0/24", "10.20.8.0/22", "10.20.8.0/24", "10.20.9.0/24", "10.20.128.0/17", "10.21.0.0/16",
    "10.20.0.1/24", "10.250.0.0/16", "172.17.0.0/16", "172.18.0.0/16", "0.0.0.0/0", "10.0.0.0/33", "300.0.0.0/8",
    "10.0.0.0", "fd00::/8", "10.20.4.0/25",
];
const IPS: &[&str] = &["10.250.0.10", "10.251.0.10", "10.20.8.5", "172.18.0.1", "1.2.3", "::1", "10.250.255.255"];
const DESTS: &[&str] = &["10.30.0.4", "10.30.0.0/24", "AzureMonitor", "Storage.westeurope", "Bad Tag", "Storage.west.europe", "fd00::1", "*"];
const PORTS: &[&str] = &["443", "8000-8100", "*", "x", "65536", "1-2-3", ""];
const IDS: &[&str] = &[
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/cr1",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Insights/components/ai1",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Network/routeTables/r",
    "/subscriptions/not-a-uuid/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg",
    "vnet-1",
];
const NAMES: &[&str] = &["ok-name", "a", "ab", "x_y.z", "-bad", "bad.", "UPPER", "with space", "kv--double", "a1b2c3d4e5", "name-ending-"];
const GROUPS: &[&str] = &["amlworkspace", "blob", "file", "queue", "table", "dfs", "web", "vault", "registry"];
const LOCATIONS: &[&str] = &["westeurope", "eastus2", "West Europe", "9north", "a"];
const UUIDS: &[&str] = &[SUB, "not-a-uuid", "6F1C2A7E-3B4D-4E5F-8A9B-0C1D2E3F4A5B", "6f1c2a7e3b4d4e5f8a9b0c1d2e3f4a5b"];

/// One edit: a path and a value (null removes the field).
type Edit = (Vec<&'static str>, Value);

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::sample::select(pool).prop_map(|s| json!(s))
}

fn maybe(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![3 => pick(pool), 1 => Just(Value::Null)]
}

fn ws_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        pick(UUIDS).prop_map(|v| (vec!["spec", "subscriptionId"], v)),
        pick(NAMES).prop_map(|v| (vec!["spec", "resourceGroup"], v)),
        pick(LOCATIONS).prop_map(|v| (vec!["spec", "location"], v)),
        maybe(NAMES).prop_map(|v| (vec!["spec", "network", "vnet", "name"], v)),
        maybe(IDS).prop_map(|v| (vec!["spec", "network", "vnet", "id"], v)),
        prop_oneof![
            prop::collection::vec(prop::sample::select(CIDRS), 1..4).prop_map(|v| json!(v)),
            Just(Value::Null)
        ]
        .prop_map(|v| (vec!["spec", "network", "vnet", "addressSpace"], v)),
        pick(CIDRS).prop_map(|v| (vec!["spec", "network", "privateEndpointSubnet", "addressPrefix"], v)),
        pick(NAMES).prop_map(|v| (vec!["spec", "network", "privateEndpointSubnet", "name"], v)),
        pick(NAMES).prop_map(|v| (vec!["spec", "workspace", "name"], v)),
        maybe(NAMES).prop_map(|v| (vec!["spec", "storage", "name"], v)),
        maybe(IDS).prop_map(|v| (vec!["spec", "storage", "id"], v)),
        maybe(NAMES).prop_map(|v| (vec!["spec", "keyVault", "name"], v)),
        maybe(IDS).prop_map(|v| (vec!["spec", "keyVault", "id"], v)),
        maybe(NAMES).prop_map(|v| (vec!["spec", "containerRegistry", "name"], v)),
        maybe(IDS).prop_map(|v| (vec!["spec", "containerRegistry", "id"], v)),
        prop::sample::select(&["Basic", "Standard", "Premium"][..]).prop_map(|v| (vec!["spec", "containerRegistry", "sku"], json!(v))),
        maybe(NAMES).prop_map(|v| (vec!["spec", "applicationInsights", "name"], v)),
        maybe(IDS).prop_map(|v| (vec!["spec", "applicationInsights", "id"], v)),
    ]
}

fn cs_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        maybe(IDS).prop_map(|v| (vec!["spec", "vnetId"], v)),
        pick(NAMES).prop_map(|v| (vec!["spec", "name"], v)),
        pick(CIDRS).prop_map(|v| (vec!["spec", "addressPrefix"], v)),
        prop::sample::select(&["Training", "ComputeInstance", "Inference", "ContainerInstances", "Databricks"][..]).prop_map(|v| (vec!["spec", "purpose"], json!(v))),
        pick(CIDRS).prop_map(|v| (vec!["spec", "aks", "serviceCidr"], v)),
        pick(IPS).prop_map(|v| (vec!["spec", "aks", "dnsServiceIP"], v)),
        maybe(CIDRS).prop_map(|v| (vec!["spec", "aks", "dockerBridgeCidr"], v)),
        Just((vec!["spec", "aks"], Value::Null)),
        maybe(NAMES).prop_map(|v| (vec!["spec", "nsg", "name"], v)),
        maybe(IDS).prop_map(|v| (vec!["spec", "nsg", "id"], v)),
        prop::collection::vec(prop::sample::select(CIDRS), 0..3).prop_map(|v| (vec!["spec", "nsg", "sshFrom"], json!(v))),
        (prop::collection::vec((prop::sample::select(&["a", "b", "proxy", "-x"][..]), prop::sample::select(DESTS), prop::collection::vec(prop::sample::select(PORTS), 1..3)), 0..4))
            .prop_map(|rules| (vec!["spec", "outbound", "extraRules"], json!(rules.iter().map(|(n, d, p)| json!({"name": n, "destination": d, "ports": p})).collect::<Vec<_>>()))),
        maybe(NAMES).prop_map(|v| (vec!["spec", "forcedTunneling", "routeTableName"], v)),
        maybe(IDS).prop_map(|v| (vec!["spec", "forcedTunneling", "routeTableId"], v)),
        maybe(IPS).prop_map(|v| (vec!["spec", "forcedTunneling", "firewallIp"], v)),
    ]
}

fn peb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        pick(IDS).prop_map(|v| (vec!["spec", "target", "id"], v)),
        pick(GROUPS).prop_map(|v| (vec!["spec", "target", "groupId"], v)),
        pick(IDS).prop_map(|v| (vec!["spec", "subnetId"], v)),
        pick(LOCATIONS).prop_map(|v| (vec!["spec", "location"], v)),
        maybe(NAMES).prop_map(|v| (vec!["spec", "privateEndpointName"], v)),
        prop::sample::select(&["AzurePrivateDns", "Custom", "None"][..]).prop_map(|v| (vec!["spec", "dns", "mode"], json!(v))),
        prop_oneof![
            Just(json!([])),
            Just(json!(["privatelink.blob.core.windows.net"])),
            Just(Value::Null)
        ]
        .prop_map(|v| (vec!["spec", "dns", "zones"], v)),
        prop::collection::vec(prop::sample::select(IDS), 0..2).prop_map(|v| (vec!["spec", "dns", "linkVnetIds"], json!(v))),
    ]
}

fn compare<K: CustomResourceExt + serde::de::DeserializeOwned>(
    obj: &Value,
    schema: &kube_cel::CompiledSchema,
    check: impl Fn(&K) -> Vec<Finding>,
) -> Result<(), TestCaseError> {
    thread_local!(static VALIDATOR: kube_cel::Validator = kube_cel::Validator::new());
    let typed: K = match serde_json::from_value(obj.clone()) {
        Ok(t) => t,
        Err(_) => return Ok(()), // not an object the apiserver's structural schema would accept either
    };
    let by_cel = VALIDATOR.with(|v| cel(v, schema, obj));
    let by_mirror = mirror(check(&typed));
    prop_assert_eq!(
        by_cel.is_empty(),
        by_mirror.is_empty(),
        "CEL and the mirror disagree on {}\nCEL: {:#?}\nmirror: {:#?}",
        serde_json::to_string_pretty(obj).unwrap(),
        by_cel,
        by_mirror
    );
    Ok(())
}

#[test]
fn the_bases_pass_both() {
    let v = kube_cel::Validator::new();
    assert!(cel(&v, &crd_schema::<SecureWorkspace>(), &workspace()).is_empty());
    assert!(cel(&v, &crd_schema::<ComputeSubnet>(), &subnet()).is_empty());
    assert!(cel(&v, &crd_schema::<PrivateEndpointBinding>(), &endpoint()).is_empty());
    assert!(mirror(schema::check_workspace(&serde_json::from_value(workspace()).unwrap())).is_empty());
    assert!(mirror(schema::check_compute_subnet(&serde_json::from_value(subnet()).unwrap())).is_empty());
    assert!(mirror(schema::check_endpoint(&serde_json::from_value(endpoint()).unwrap())).is_empty());
}

#[test]
fn known_bad_objects_fail_both() {
    let v = kube_cel::Validator::new();
    let cases: Vec<(Value, &[&str])> = vec![
        (subnet(), &["spec", "addressPrefix"]),
        (subnet(), &["spec", "aks", "dnsServiceIP"]),
    ];
    let values = [json!("10.20.8.1/22"), json!("10.251.0.10")];
    for ((mut obj, path), val) in cases.into_iter().zip(values) {
        set(&mut obj, path, val);
        assert!(!cel(&v, &crd_schema::<ComputeSubnet>(), &obj).is_empty(), "CEL accepts {obj}");
        assert!(!mirror(schema::check_compute_subnet(&serde_json::from_value(obj.clone()).unwrap())).is_empty(), "mirror accepts {obj}");
    }
    let mut ws = workspace();
    set(&mut ws, &["spec", "storage", "id"], json!(IDS[3]));
    assert!(!cel(&v, &crd_schema::<SecureWorkspace>(), &ws).is_empty());
    assert!(!mirror(schema::check_workspace(&serde_json::from_value(ws).unwrap())).is_empty());
}

static WS_SCHEMA: std::sync::LazyLock<kube_cel::CompiledSchema> = std::sync::LazyLock::new(crd_schema::<SecureWorkspace>);
static CS_SCHEMA: std::sync::LazyLock<kube_cel::CompiledSchema> = std::sync::LazyLock::new(crd_schema::<ComputeSubnet>);
static PEB_SCHEMA: std::sync::LazyLock<kube_cel::CompiledSchema> = std::sync::LazyLock::new(crd_schema::<PrivateEndpointBinding>);

proptest! {
    // CEL evaluation is slow in debug builds: 64 cases per kind by default, MOAT_CEL_CASES=2000 for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("MOAT_CEL_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn secure_workspace_mirror_matches_cel(edits in prop::collection::vec(ws_edit(), 1..4)) {
        let mut obj = workspace();
        for (path, val) in edits { set(&mut obj, &path, val); }
        compare::<SecureWorkspace>(&obj, &WS_SCHEMA, schema::check_workspace)?;
    }

    #[test]
    fn compute_subnet_mirror_matches_cel(edits in prop::collection::vec(cs_edit(), 1..4)) {
        let mut obj = subnet();
        for (path, val) in edits { set(&mut obj, &path, val); }
        compare::<ComputeSubnet>(&obj, &CS_SCHEMA, schema::check_compute_subnet)?;
    }

    #[test]
    fn private_endpoint_binding_mirror_matches_cel(edits in prop::collection::vec(peb_edit(), 1..4)) {
        let mut obj = endpoint();
        for (path, val) in edits { set(&mut obj, &path, val); }
        compare::<PrivateEndpointBinding>(&obj, &PEB_SCHEMA, schema::check_endpoint)?;
    }
}
