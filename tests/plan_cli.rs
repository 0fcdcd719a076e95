//! `moat plan` prints the ordered ARM actions for the samples and writes nothing; once Azure
//! matches, it prints no change.

use moat::emulator::EmulatorConfig;
use serde_json::Value;

const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

async fn run_plan(url: &str, files: &[&str], trust: Trust<'_>) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.args(["plan", "-o", "json", "--arm-endpoint", url, "--arm-token", "t", "--tenant-id", "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"]);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR").env_remove("MOAT_ARM_CA_FILE");
    match trust {
        Trust::Flag(p) => {
            cmd.arg("--arm-ca-file").arg(p);
        }
        Trust::SslCertFile(p) => {
            cmd.env("SSL_CERT_FILE", p);
        }
        Trust::None => {}
    }
    for f in files {
        cmd.args(["-f", &format!("{}/config/samples/{f}", env!("CARGO_MANIFEST_DIR"))]);
    }
    cmd.output().await.expect("run moat plan")
}

/// How `moat plan` is told to trust the emulator's CA.
enum Trust<'a> {
    Flag(&'a std::path::Path),
    SslCertFile(&'a std::path::Path),
    None,
}

async fn plan(url: &str, files: &[&str], ca: &std::path::Path) -> Vec<Value> {
    let out = run_plan(url, files, Trust::Flag(ca)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON steps")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_lists_ordered_creates_and_writes_nothing() {
    let emu = moat::emulator::start(EmulatorConfig::for_tests().with_resource_group(SUB, "rg-ml-prod")).await.expect("emulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("emulator-ca.pem");
    std::fs::write(&ca, &emu.ca_pem).expect("write CA");
    let steps = plan(&emu.base_url, &["secureworkspace.yaml", "computesubnet-training.yaml"], &ca).await;
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

    // ARM is HTTPS: without the emulator's CA moat refuses the connection; SSL_CERT_FILE (read by
    // rustls-native-certs in place of the system roots) works as well as --arm-ca-file.
    let files = ["computesubnet-training.yaml", "secureworkspace.yaml"];
    let untrusted = run_plan(&emu.base_url, &files, Trust::None).await;
    assert!(!untrusted.status.success());
    let err = String::from_utf8_lossy(&untrusted.stderr);
    assert!(err.contains("TLS certificate is not trusted") && err.contains("--arm-ca-file"), "{err}");
    let env_trust = run_plan(&emu.base_url, &files, Trust::SslCertFile(&ca)).await;
    assert!(env_trust.status.success(), "{}", String::from_utf8_lossy(&env_trust.stderr));
}
