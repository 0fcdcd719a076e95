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

/// From a laptop: `--credential azure-cli` takes the token `az account get-access-token` prints
/// (a stand-in `az` on PATH here), and the emulator accepts only that token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_uses_the_azure_cli_token_when_asked() {
    let mut cfg = EmulatorConfig::for_tests().with_resource_group(SUB, "rg-ml-prod");
    cfg.require_token = Some("token-from-az".into());
    let emu = moat::emulator::start(cfg).await.expect("emulator");
    let bin = tempfile::tempdir().expect("tempdir");
    let calls = bin.path().join("az-calls");
    let az = bin.path().join("az");
    let expires = jiff::Timestamp::now().as_second() + 3600;
    std::fs::write(
        &az,
        format!("#!/bin/sh\necho \"$@\" >> {}\necho '{{\"accessToken\": \"token-from-az\", \"expires_on\": {expires}, \"tokenType\": \"Bearer\"}}'\n", calls.display()),
    )
    .expect("write az");
    std::fs::set_permissions(&az, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod az");
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let ws = format!("{}/config/samples/secureworkspace.yaml", env!("CARGO_MANIFEST_DIR"));
    let ca = bin.path().join("emulator-ca.pem");
    std::fs::write(&ca, &emu.ca_pem).expect("write the emulator's CA");
    let run = |extra: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_moat"));
        cmd.args(["plan", "-o", "json", "-f", &ws, "--arm-endpoint", &emu.base_url, "--tenant-id", "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"])
            .arg("--arm-ca-file")
            .arg(&ca)
            .args(extra)
            .env("PATH", &path)
            .env_remove("MOAT_ARM_STATIC_TOKEN");
        cmd.output()
    };
    let out = run(&["--credential", "azure-cli"]).await.expect("run moat plan");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let steps: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON steps");
    assert!(!steps.is_empty());
    let asked = std::fs::read_to_string(&calls).expect("az was called");
    assert!(asked.contains("account get-access-token") && asked.contains(&format!("--scope {}/.default", emu.base_url.trim_end_matches('/'))), "{asked}");
    // A wrong token is refused by the emulator: the token really came from az.
    let out = run(&["--arm-token", "not-from-az"]).await.expect("run moat plan");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // A static token with another credential is a flag error, not a silent choice.
    let out = run(&["--credential", "azure-cli", "--arm-token", "x"]).await.expect("run moat plan");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only used with --credential static"), "{}", String::from_utf8_lossy(&out.stderr));
}
