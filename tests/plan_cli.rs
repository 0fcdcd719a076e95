//! `moat plan` prints the ordered ARM actions for the samples and writes nothing; once Azure
//! matches, it prints no change.

use moat::emulator::EmulatorConfig;
use serde_json::Value;

const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

async fn plan(url: &str, files: &[&str]) -> Vec<Value> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.args(["plan", "-o", "json", "--arm-endpoint", url, "--arm-token", "t", "--tenant-id", "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"]);
    for f in files {
        cmd.args(["-f", &format!("{}/config/samples/{f}", env!("CARGO_MANIFEST_DIR"))]);
    }
    let out = cmd.output().await.expect("run moat plan");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON steps")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_lists_ordered_creates_and_writes_nothing() {
    let emu = moat::emulator::start(EmulatorConfig::for_tests().with_resource_group(SUB, "rg-ml-prod")).await.expect("emulator");
    let steps = plan(&emu.base_url, &["secureworkspace.yaml", "computesubnet-training.yaml"]).await;
    let kinds: Vec<&str> = steps.iter().filter_map(|s| s["kind"].as_str()).collect();
    assert!(steps.iter().all(|s| s["action"] == "CREATE (PUT)"), "{steps:#?}");
    for k in ["VirtualNetwork", "Subnet", "StorageAccount", "KeyVault", "ContainerRegistry", "Workspace", "PrivateEndpoint", "PrivateDnsZone", "NetworkSecurityGroup", "SecurityRule", "Route"] {
        assert!(kinds.contains(&k), "{k} planned: {kinds:?}");
    }
    // Dependencies come first within each object: the VNet before its subnet, the workspace after its resources.
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    assert!(pos("VirtualNetwork") < pos("Subnet") && pos("StorageAccount") < pos("Workspace"));
    let log = emu.admin.requests(None);
    assert!(log.entries.iter().all(|e| e.method == "GET"), "plan only reads: {:?}", log.counts.by_method);
}
