//! One version: Cargo.toml's. The chart's `version` and `appVersion` (hence the default image
//! tag), the kustomize image tag and `scripts/version.sh` (which tags the image) all say it, and
//! `moat --version` prints it with the git revision that build.rs stamps.

use std::path::Path;
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

#[test]
fn chart_kustomize_and_image_tag_follow_cargo_toml() {
    let chart = yaml("charts/moat/Chart.yaml");
    let fix = format!("set both to Cargo.toml's version {VERSION} (release checklist in docs/upgrade.md)");
    assert_eq!(chart["version"], VERSION, "charts/moat/Chart.yaml version: {fix}");
    assert_eq!(chart["appVersion"], VERSION, "charts/moat/Chart.yaml appVersion (the default image tag): {fix}");

    let kustomize = yaml("config/default/kustomization.yaml");
    let moat_image = kustomize["images"].as_array().into_iter().flatten().find(|i| i["name"] == "moat");
    assert_eq!(moat_image.map(|i| &i["newTag"]), Some(&serde_json::json!(VERSION)), "config/default/kustomization.yaml images[moat].newTag: {fix}");

    let out = Command::new("bash").arg(repo().join("scripts/version.sh")).output().expect("run scripts/version.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), VERSION, "scripts/version.sh (the image tag)");
}

#[test]
fn moat_version_prints_the_version_and_git_revision() {
    let out = Command::new(env!("CARGO_BIN_EXE_moat")).arg("--version").output().expect("run moat --version");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let revision = head.or_else(|| std::env::var("MOAT_GIT_REVISION").ok()).unwrap_or_else(|| "unknown".into());
    assert_eq!(printed, format!("moat {VERSION} ({revision})"));
}
