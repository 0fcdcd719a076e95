//! moat's Argo CD health check (`charts/moat/argocd/health.lua`), run in Lua 5.1 as Argo CD runs
//! it: every Ready reason moat emits lands where `ReadyReason::health()` says, and the shipped
//! `argocd-cm` patch carries exactly the script. Objects moat really produced are checked in
//! `tests/ops_e2e.rs`.

mod support;

use std::collections::BTreeMap;

use moat::controller::conditions::{Health, ReadyReason};
use serde_json::{Value, json};
use support::argo::{ARGOCD_CM_PATCH, KINDS, argo_health, argocd_cm_patch, health_script, run_health};

fn health_name(h: Health) -> &'static str {
    match h {
        Health::Healthy => "Healthy",
        Health::Progressing => "Progressing",
        Health::Degraded => "Degraded",
        Health::Suspended => "Suspended",
    }
}

/// A moat object at `generation` whose Ready condition carries `reason`, as the controllers
/// write it (`conditions::ready`: True only for Converged).
fn object(kind: &str, generation: i64, observed: i64, reason: &str, message: &str) -> Value {
    let status = if reason == "Converged" { "True" } else { "False" };
    json!({
        "apiVersion": "moat.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "team-a", "generation": generation},
        "spec": {},
        "status": {
            "observedGeneration": observed,
            "conditions": [
                {"type": "ConstraintsSatisfied", "status": "True", "reason": "Satisfied", "message": "", "observedGeneration": observed, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Ready", "status": status, "reason": reason, "message": message, "observedGeneration": observed, "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]
        }
    })
}

#[test]
fn every_ready_reason_gets_the_health_the_registry_gives_it() {
    for kind in KINDS {
        for reason in ReadyReason::ALL {
            let (status, message) = argo_health(&object(kind, 4, 4, reason.as_str(), "the detail"));
            assert_eq!(status, health_name(reason.health()), "{kind} with Ready reason {reason}: {message}");
            assert_eq!(message, format!("{reason}: the detail"), "{kind} {reason}: the message names the reason and carries moat's message");
        }
    }
}

/// The script's table, line by line, against the registry: same reasons, same health, both ways.
#[test]
fn the_reason_table_is_the_registry() {
    let script = health_script();
    let begin = script.find("-- BEGIN reasons").expect("BEGIN reasons marker");
    let end = script.find("-- END reasons").expect("END reasons marker");
    let line = regex::Regex::new(r#"^\s*(\w+)\s*=\s*"(\w+)",\s*$"#).expect("regex");
    let table: BTreeMap<String, String> = script[begin..end]
        .lines()
        .filter_map(|l| line.captures(l))
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    let registry: BTreeMap<String, String> =
        ReadyReason::ALL.iter().map(|r| (r.as_str().to_string(), health_name(r.health()).to_string())).collect();
    assert_eq!(table, registry, "charts/moat/argocd/health.lua's reason table differs from ReadyReason::health()");
}

#[test]
fn no_status_yet_is_progressing() {
    let mut obj = object("SecureWorkspace", 1, 1, "Converged", "");
    obj.as_object_mut().expect("object").remove("status");
    assert_eq!(argo_health(&obj).0, "Progressing");
    obj["status"] = json!({});
    assert_eq!(argo_health(&obj).0, "Progressing");
    obj["status"] = json!({"conditions": [{"type": "ConstraintsSatisfied", "status": "True", "reason": "Satisfied"}]});
    assert_eq!(argo_health(&obj), ("Progressing".into(), "Waiting for the Ready condition".into()));
}

#[test]
fn a_status_about_an_older_generation_is_progressing() {
    // Converged for generation 2, but the spec is at 3 now: not Healthy yet.
    let (status, message) = argo_health(&object("ComputeSubnet", 3, 2, "Converged", "all resources match"));
    assert_eq!(status, "Progressing");
    assert!(message.contains("generation 3") && message.contains("generation 2"), "{message}");
    // An error about an older spec may be fixed by the new one: Progressing, not Degraded.
    assert_eq!(argo_health(&object("ComputeSubnet", 3, 2, "ConstraintViolation", "NET-008")).0, "Progressing");
    // Only the Ready condition's observedGeneration counts when it has one...
    let mut obj = object("ComputeSubnet", 3, 3, "Converged", "");
    obj["status"]["observedGeneration"] = json!(1);
    assert_eq!(argo_health(&obj).0, "Healthy");
    // ...else the status's.
    let mut obj = object("ComputeSubnet", 3, 3, "Converged", "");
    obj["status"]["conditions"][1].as_object_mut().expect("condition").remove("observedGeneration");
    obj["status"]["observedGeneration"] = json!(2);
    assert_eq!(argo_health(&obj).0, "Progressing");
    obj["status"]["observedGeneration"] = json!(3);
    assert_eq!(argo_health(&obj).0, "Healthy");
}

#[test]
fn an_error_finding_is_degraded_whatever_the_ready_reason() {
    // The controllers still converge what the finding does not block: Ready says Converging.
    let mut obj = object("ComputeSubnet", 2, 2, "Converging", "waiting for SubnetReady");
    obj["status"]["conditions"][0] = json!({"type": "ConstraintsSatisfied", "status": "False", "reason": "ConstraintViolation",
        "message": "NET-003: 10.99.4.0/25 is outside the VNet", "observedGeneration": 2});
    assert_eq!(argo_health(&obj), ("Degraded".into(), "ConstraintViolation: NET-003: 10.99.4.0/25 is outside the VNet".into()));
    // About an older generation, it may be fixed already: the stale status is Progressing.
    obj["metadata"]["generation"] = json!(3);
    assert_eq!(argo_health(&obj).0, "Progressing");
    // Paused stays Suspended.
    let mut paused = object("ComputeSubnet", 2, 2, "Paused", "");
    paused["status"]["conditions"][0]["status"] = json!("False");
    assert_eq!(argo_health(&paused).0, "Suspended");
}

#[test]
fn paused_is_suspended_even_when_the_spec_moved_on() {
    let (status, message) = argo_health(&object("SecureWorkspace", 5, 2, "Paused", "annotation moat.dev/reconcile-policy=skip"));
    assert_eq!(status, "Suspended");
    assert!(message.starts_with("Paused"), "{message}");
}

#[test]
fn ready_true_is_healthy() {
    assert_eq!(argo_health(&object("PrivateEndpointBinding", 1, 1, "Converged", "endpoint Approved")), ("Healthy".into(), "Converged: endpoint Approved".into()));
}

#[test]
fn an_unknown_reason_is_degraded_with_the_message() {
    let (status, message) = argo_health(&object("SecureWorkspace", 1, 1, "SomethingNew", "ARM said no"));
    assert_eq!(status, "Degraded");
    assert_eq!(message, "Unknown Ready reason SomethingNew: ARM said no");
    // A condition with no reason or message at all.
    let obj = json!({"metadata": {"generation": 1}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    assert_eq!(argo_health(&obj).0, "Degraded");
}

#[test]
fn nulls_and_missing_metadata_do_not_break_the_script() {
    let obj = json!({"status": {"observedGeneration": null, "conditions": [{"type": "Ready", "status": "True", "reason": "Converged", "message": null, "observedGeneration": null}]}});
    assert_eq!(argo_health(&obj), ("Healthy".into(), "Converged".into()));
}

/// Lua 5.1 only: the script must not lean on 5.2+ syntax (goto, //, bitwise operators) that
/// gopher-lua rejects; the vendored interpreter is 5.1, so a parse error shows here.
#[test]
fn the_script_is_lua_5_1() {
    let lua = mlua::Lua::new();
    let version: String = lua.globals().get("_VERSION").expect("_VERSION");
    assert_eq!(version, "Lua 5.1");
    let script = health_script();
    assert!(run_health(&script, &json!({})).is_ok());
    for banned in ["goto ", "//", "<<", ">>"] {
        assert!(!script.lines().filter(|l| !l.trim_start().starts_with("--")).any(|l| l.contains(banned)), "health.lua uses {banned}");
    }
}

#[test]
fn the_argocd_cm_patch_carries_the_script_for_each_kind() {
    let script = health_script();
    let expected = argocd_cm_patch(&script);
    if std::env::var_os("MOAT_REGENERATE").is_some() {
        std::fs::write(ARGOCD_CM_PATCH, &expected).expect("write the patch");
    }
    let shipped = std::fs::read_to_string(ARGOCD_CM_PATCH).unwrap_or_default();
    assert!(
        shipped == expected,
        "charts/moat/argocd/argocd-cm-patch.yaml is out of date: regenerate it with\n  MOAT_REGENERATE=1 cargo test --test argocd_health"
    );
    let patch: Value = serde_saphyr::from_str(&shipped).expect("the patch is YAML");
    let data = patch["data"].as_object().expect("data");
    assert_eq!(data.len(), KINDS.len());
    for kind in KINDS {
        let key = format!("resource.customizations.health.moat.dev_{kind}");
        let embedded = data.get(&key).and_then(Value::as_str).unwrap_or_else(|| panic!("no {key}"));
        assert_eq!(embedded.trim_end(), script.trim_end(), "{key} is not health.lua");
    }
}
