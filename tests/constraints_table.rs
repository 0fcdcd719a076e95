//! One breaking and one satisfying manifest per rule of the catalog.
//!
//! The base fixture is the shipped sample (a SecureWorkspace, a Training and an Inference
//! ComputeSubnet, a PrivateEndpointBinding) and is clean. Each case changes it to break one rule
//! (the finding must appear, with its severity and the figures in its message) and changes it the
//! other way to satisfy the rule (no finding of that rule). A test checks that every rule of the
//! catalog has a case.

#[path = "support/constraint_cases.rs"]
mod constraint_cases;

use constraint_cases::*;
use moat::api::Severity;
use moat::constraints::{self, CATALOG, Finding};
use serde_json::json;

fn show(findings: &[Finding]) -> String {
    findings.iter().map(|f| format!("  {} {} {}: {}", f.rule_id, f.severity, f.object, f.message)).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_base_fixture_is_clean() {
    let f = evaluate(&base());
    assert!(f.is_empty(), "base fixture has findings:\n{}", show(&f));
}

#[test]
fn each_rule_fires_on_its_breaking_manifest_and_not_on_its_satisfying_one() {
    let mut failures = Vec::new();
    for case in cases() {
        let rule = constraints::rule(case.id).unwrap_or_else(|| panic!("{} is not in the catalog", case.id));
        let mut bad = base();
        (case.bad)(&mut bad);
        let found = evaluate(&bad);
        let hits: Vec<&Finding> = found.iter().filter(|f| f.rule_id == case.id).collect();
        if hits.is_empty() {
            failures.push(format!("{}: no finding on the breaking manifest; got:\n{}", case.id, show(&found)));
            continue;
        }
        for h in &hits {
            if h.severity != rule.severity {
                failures.push(format!("{}: severity {} instead of {}", case.id, h.severity, rule.severity));
            }
        }
        for fig in case.figures {
            if !hits.iter().any(|h| h.message.contains(fig) || h.fix.contains(fig)) {
                failures.push(format!("{}: no message contains {fig:?}; got:\n{}", case.id, show(&found)));
            }
        }
        let mut ok = base();
        (case.ok)(&mut ok);
        let found = evaluate(&ok);
        if found.iter().any(|f| f.rule_id == case.id) {
            failures.push(format!("{}: finding on the satisfying manifest:\n{}", case.id, show(&found)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const SUBNET_YAML: &str = "apiVersion: moat.dev/v1alpha1
kind: ComputeSubnet
metadata:
  name: training
  namespace: ml-platform
spec:
  workspaceRef:
    name: ml-prod
  name: snet-training
  addressPrefix: 10.20.4.0/25
  purpose: PURPOSE
  expectedNodes: 4
  nsg:
    name: nsg-training
    EXTRA
";

fn yaml_findings(text: &str, id: &str) -> Vec<moat::cli::validate::LocatedFinding> {
    let r = moat::cli::validate::validate_str("case.yaml", text);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.findings.into_iter().filter(|f| f.finding.rule_id == id).collect()
}

#[test]
fn schema_001_wrong_enum_missing_field_and_unknown_kind() {
    let bad = SUBNET_YAML.replace("PURPOSE", "Trainin").replace("EXTRA", "");
    let hits = yaml_findings(&bad, "SCHEMA-001");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].finding.severity, Severity::Error);
    assert!(hits[0].finding.message.contains("unknown variant `Trainin`"), "{}", hits[0].finding.message);
    assert_eq!(hits[0].location.as_ref().map(|l| l.line), Some(11));
    let missing = SUBNET_YAML.replace("  addressPrefix: 10.20.4.0/25\n", "").replace("PURPOSE", "Training").replace("EXTRA", "");
    let hits = yaml_findings(&missing, "SCHEMA-001");
    assert!(hits[0].finding.message.contains("addressPrefix"), "{}", hits[0].finding.message);
    let unknown_kind = SUBNET_YAML.replace("kind: ComputeSubnet", "kind: ComputeSubnets").replace("PURPOSE", "Training").replace("EXTRA", "");
    assert!(yaml_findings(&unknown_kind, "SCHEMA-001")[0].finding.message.contains("unknown kind ComputeSubnets"));
    let good = SUBNET_YAML.replace("PURPOSE", "Training").replace("EXTRA", "");
    assert!(yaml_findings(&good, "SCHEMA-001").is_empty());
}

#[test]
fn schema_002_unknown_field_with_its_line() {
    let bad = SUBNET_YAML.replace("PURPOSE", "Training").replace("EXTRA", "colour: blue");
    let hits = yaml_findings(&bad, "SCHEMA-002");
    assert_eq!(hits.len(), 1);
    assert!(hits[0].finding.message.contains("unknown field spec.nsg.colour"));
    assert_eq!(hits[0].location.as_ref().map(|l| l.line), Some(15));
    let good = SUBNET_YAML.replace("PURPOSE", "Training").replace("EXTRA", "sshFrom: [10.1.0.0/24]");
    assert!(yaml_findings(&good, "SCHEMA-002").is_empty());
}

#[test]
fn every_rule_of_the_catalog_has_a_case() {
    let mut covered: Vec<&str> = cases().iter().map(|c| c.id).collect();
    covered.extend(["SCHEMA-001", "SCHEMA-002"]);
    let missing: Vec<&str> = CATALOG.iter().map(|r| r.id).filter(|id| !covered.contains(id)).collect();
    assert!(missing.is_empty(), "rules without a table case: {missing:?}");
}

#[test]
fn the_docker_bridge_is_an_address_with_its_prefix() {
    // Microsoft's own example is accepted, and its network is what overlaps are judged on.
    let mut fx = base();
    set(inference(&mut fx), "/spec/aks/dockerBridgeCidr", json!("172.17.0.1/16"));
    let found = evaluate(&fx);
    assert!(!found.iter().any(|f| f.rule_id.starts_with("SCHEMA")), "{}", show(&found));
    set(inference(&mut fx), "/spec/aks/dockerBridgeCidr", json!("10.20.4.1/24"));
    let found = evaluate(&fx);
    let hit = found.iter().find(|f| f.rule_id == "AKS-003").expect("AKS-003");
    assert!(hit.message.contains("10.20.4.0/24"), "the bridge's network overlaps the training subnet: {}", hit.message);
    set(inference(&mut fx), "/spec/aks/dockerBridgeCidr", json!("nonsense"));
    assert!(evaluate(&fx).iter().any(|f| f.rule_id == "SCHEMA-003"));
}

#[test]
fn ports_outside_1_to_65535_and_inverted_ranges_are_refused_offline() {
    for (port, want) in [("99999", "outside 1-65535"), ("443-80", "low end 443 is above its high end 80"), ("0", "outside 1-65535")] {
        let mut fx = base();
        set(training(&mut fx), "/spec/outbound/extraRules/0/ports", json!([port]));
        let found = evaluate(&fx);
        assert!(found.iter().any(|f| f.rule_id == "SCHEMA-021" && f.message.contains(want)), "{port}: {}", show(&found));
    }
    let mut fx = base();
    set(training(&mut fx), "/spec/outbound/extraRules/0/ports", json!(["1", "65535", "8000-8100", "*"]));
    assert!(evaluate(&fx).is_empty());
}

#[test]
fn restricted_outbound_refuses_wide_public_destinations_and_allows_narrow_ones() {
    for (dest, error) in [("Internet", true), ("*", true), ("0.0.0.0/0", true), ("20.0.0.0/8", true), ("8.8.8.0/24", false), ("10.0.0.0/8", false), ("AzureMonitor", false)] {
        let mut fx = base();
        set(training(&mut fx), "/spec/outbound/extraRules/0/destination", json!(dest));
        let found = evaluate(&fx);
        let hit = found.iter().any(|f| f.rule_id == "NSG-005" && f.severity == Severity::Error);
        assert_eq!(hit, error, "{dest}: {}", show(&found));
    }
}

#[test]
fn an_error_holds_back_its_object_and_a_warning_does_not() {
    let mut fx = base();
    set(training(&mut fx), "/spec/addressPrefix", json!("10.20.4.0/28"));
    let found = evaluate(&fx);
    assert!(constraints::holds_back(&found));
    assert_eq!(found[0].concerns, constraints::Scope::Network);
    let mut warned = base();
    del(&mut warned.ws, "/spec/workspace/imageBuildCompute");
    let found_w = evaluate(&warned);
    assert!(found_w.iter().any(|f| f.rule_id == "REG-002" && f.severity == Severity::Warning));
    assert!(!constraints::holds_back(&found_w), "REG-002 is advice: a minimal workspace still converges");
    let status = found[0].to_status();
    assert_eq!(status.id, "NET-008");
    assert_eq!(status.field.as_deref(), Some("spec.addressPrefix"));
}
