//! `moat validate` never panics: arbitrary text, YAML-ish structures and mutated samples all give
//! a report with exit code 0, 1 or 2.

use moat::cli::validate::validate_str;
use proptest::prelude::*;

fn check(text: &str) -> Result<(), TestCaseError> {
    let r = validate_str("fuzz.yaml", text);
    prop_assert!(matches!(r.exit_code(), 0..=2));
    let _ = r.render_table();
    let _ = r.render_json();
    Ok(())
}

const KEYS: &[&str] = &[
    "apiVersion", "kind", "metadata", "name", "namespace", "spec", "workspaceRef", "addressPrefix", "purpose",
    "expectedNodes", "nsg", "sshFrom", "outbound", "mode", "extraRules", "forcedTunneling", "firewallIp", "aks",
    "serviceCidr", "dnsServiceIP", "dockerBridgeCidr", "network", "vnet", "addressSpace", "privateEndpointSubnet",
    "workspace", "storage", "keyVault", "containerRegistry", "sku", "applicationInsights", "target", "groupId",
    "subnetId", "location", "dns", "zones", "id", "items", "subscriptionId", "resourceGroup",
];
const SCALARS: &[&str] = &[
    "moat.dev/v1alpha1", "SecureWorkspace", "ComputeSubnet", "PrivateEndpointBinding", "List", "v1", "Training",
    "Inference", "ContainerInstances", "Databricks", "10.0.0.0/16", "10.0.0.0/33", "0.0.0.0/0", "10.0.0.10", "-1",
    "100001", "null", "~", "true", "''", "\"\"", "[]", "{}", "Premium", "Basic", "Restricted", "Custom", "None",
    "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
    "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s", "westeurope",
    "&a x", "*a", "!!binary aGk=", "'unterminated", "{a: [", "- - -", ":", "---", "...", "%YAML 1.2", "\t",
];

fn yamlish() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(SCALARS).prop_map(str::to_string);
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 0..6).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(KEYS), inner), 1..6).prop_map(|kv| {
                kv.iter().map(|(k, v)| format!("{k}:\n  {}", v.replace('\n', "\n  "))).collect::<Vec<_>>().join("\n")
            }),
        ]
    })
}

const SAMPLE: &str = include_str!("../config/samples/computesubnet-training.yaml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,400}") {
        check(&s)?;
    }

    #[test]
    fn yamlish_documents_never_panic(docs in prop::collection::vec(yamlish(), 1..4)) {
        check(&docs.join("\n---\n"))?;
    }

    #[test]
    fn moat_shaped_documents_never_panic(body in yamlish(), kind in prop::sample::select(&["SecureWorkspace", "ComputeSubnet", "PrivateEndpointBinding", "Other"][..])) {
        check(&format!("apiVersion: moat.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: x\nspec: {body}\n"))?;
    }

    #[test]
    fn mutated_samples_never_panic(pos in 0usize..SAMPLE.len(), cut in 0usize..40, insert in prop::sample::select(SCALARS)) {
        let mut s = SAMPLE.to_string();
        let start = (0..=pos.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        let end = (start..=(start + cut).min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(start);
        s.replace_range(start..end, insert);
        check(&s)?;
    }
}

#[test]
fn deeply_nested_input_does_not_overflow_the_stack() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let r = validate_str("deep.yaml", &deep);
    assert!(matches!(r.exit_code(), 0..=2));
    let deep_map = format!("apiVersion: moat.dev/v1alpha1\nkind: ComputeSubnet\nspec: {}1{}\n", "{a: ".repeat(3000), "}".repeat(3000));
    let r = validate_str("deep.yaml", &deep_map);
    assert!(matches!(r.exit_code(), 0..=2));
}
