//! Tenancy helpers for tests on the real apiserver: AzureScopePolicy objects, and a moat that
//! watches every namespace (tenancy tests span several).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use moat::api::{AzureScopePolicy, AzureScopePolicySpec};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::e2e::{SUB, TENANT};
use super::testenv::TestEnv;

/// Creates or replaces the cluster-scoped AzureScopePolicy `name` with `spec` (JSON). Retries
/// for a while: the CRD may have been installed a moment ago and not be served yet.
pub async fn apply_policy(env: &TestEnv, name: &str, spec: Value) {
    let spec: AzureScopePolicySpec = serde_json::from_value(spec).expect("AzureScopePolicy spec");
    let policy = AzureScopePolicy::new(name, spec);
    let api: Api<AzureScopePolicy> = Api::all(env.client());
    super::eventually(Duration::from_secs(30), || async {
        api.patch(name, &PatchParams::apply("moat-tests").force(), &Patch::Apply(&policy)).await.map(|_| ())
    })
    .await
    .unwrap_or_else(|e| panic!("apply AzureScopePolicy {name}: {e}"));
}

pub async fn delete_policy(env: &TestEnv, name: &str) {
    let api: Api<AzureScopePolicy> = Api::all(env.client());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// What the end-to-end harness needs: its namespace may use the whole test subscription with
/// moat's own identity (the e2e tests are about converging, not about tenancy).
pub async fn grant_harness_namespace(env: &TestEnv, ns: &str) {
    apply_policy(
        env,
        &format!("e2e-{ns}"),
        json!({"namespaces": {"names": [ns]}, "scopes": [format!("/subscriptions/{SUB}")], "identity": {"allowOperatorIdentity": true}}),
    )
    .await;
}

/// `moat run` watching every namespace, against `arm_endpoint`, re-reading converged objects
/// every `resync_seconds`.
pub fn start_moat_all_namespaces(env: &TestEnv, emu: &moat::emulator::RunningEmulator, log: &Path, extra: &[&str], resync_seconds: u64) -> Child {
    let ca = log.with_extension("ca.pem");
    std::fs::write(&ca, &emu.ca_pem).expect("write the emulator's CA");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["run", "--leader-elect=false", "--credential", "static", "--metrics-addr", "127.0.0.1:0"])
        .args(["--kubeconfig", env.kubeconfig.to_str().expect("utf-8 path")])
        .args(["--arm-endpoint", &emu.base_url, "--tenant-id", TENANT])
        .arg("--arm-ca-file")
        .arg(&ca)
        .args(["--resync-seconds", &resync_seconds.to_string(), "--retry-seconds", "1", "--busy-poll-seconds", "1"])
        .args(extra)
        .env("MOAT_ARM_STATIC_TOKEN", "e2e-token")
        .env("RUST_LOG", "info,moat=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn moat")
}
