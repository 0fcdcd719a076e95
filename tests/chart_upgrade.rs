//! CRDs across Helm upgrades, on the real apiserver with the real helm (there is no kubelet, so
//! nothing in the Deployment runs; this is about what Helm does to the CRDs and objects).
//!
//! The chart renders its CRDs as templates (`templates/crds.yaml`, from `files/crds/`) with
//! `helm.sh/resource-policy: keep`, as cert-manager's `crds.enabled`/`crds.keep` do, so that:
//! the 0.1.0 chart's unmanaged CRDs are adopted (`scripts/adopt-crds.sh`); `helm upgrade` to a
//! chart whose CRD adds a field serves that field (an object using it keeps it, where before it
//! was pruned); `helm uninstall` deletes neither the CRDs nor the custom resources; and a new
//! install adopts the kept CRDs.
//!
//! One story in one test: the CRDs are cluster-scoped, so its steps cannot run in parallel.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use support::testenv::TestEnv;

const CRDS: [&str; 3] = ["secureworkspaces.moat.dev", "privateendpointbindings.moat.dev", "computesubnets.moat.dev"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok(what: &str, out: std::io::Result<Output>) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(out.status.success(), "{what} failed ({}):\n{}", out.status, text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn set_chart_version(chart: &Path, version: &str) {
    let path = chart.join("Chart.yaml");
    let text = std::fs::read_to_string(&path).expect("read Chart.yaml");
    let text: String = text.lines().map(|l| if l.starts_with("version:") { format!("version: {version}\n") } else { format!("{l}\n") }).collect();
    std::fs::write(path, text).expect("write Chart.yaml");
}

/// The chart as 0.1.0 shipped it: the same CRDs, but in `crds/` (installed once, never upgraded).
fn chart_0_1_0_layout(dir: &Path) -> PathBuf {
    let chart = dir.join("moat-0.1.0");
    copy_dir(&repo().join("charts/moat"), &chart);
    std::fs::rename(chart.join("files/crds"), chart.join("crds")).expect("move CRDs to crds/");
    std::fs::remove_file(chart.join("templates/crds.yaml")).expect("remove the CRD template");
    set_chart_version(&chart, "0.1.0");
    chart
}

/// This chart with one new optional field, `spec.upgradeProbe`, in the SecureWorkspace CRD.
fn chart_with_new_field(dir: &Path) -> PathBuf {
    let chart = dir.join("moat-next");
    copy_dir(&repo().join("charts/moat"), &chart);
    let file = chart.join("files/crds/secureworkspaces.moat.dev.yaml");
    let mut crd: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file).expect("read CRD")).expect("CRD YAML");
    let spec = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert!(spec.is_object(), "the SecureWorkspace CRD has spec properties");
    spec["upgradeProbe"] = json!({"type": "string", "description": "added by the next chart version"});
    std::fs::write(&file, serde_saphyr::to_string(&crd).expect("render CRD")).expect("write CRD");
    set_chart_version(&chart, &format!("{}-next", env!("CARGO_PKG_VERSION")));
    chart
}

async fn crd(env: &TestEnv, name: &str) -> Option<Value> {
    let out = env.kubectl(["get", "crd", name, "-o", "json"]).await.expect("kubectl");
    out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("CRD JSON"))
}

async fn workspace(env: &TestEnv, ns: &str) -> Option<Value> {
    let out = env.kubectl(["get", "secureworkspace", "ml-prod", "-n", ns, "-o", "json"]).await.expect("kubectl");
    out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("object JSON"))
}

/// Sets `spec.upgradeProbe` with a JSON merge patch: the apiserver drops (prunes) a field its CRD
/// does not declare, and keeps one it does.
async fn patch_probe(env: &TestEnv, ns: &str, probe: &str) -> Output {
    let patch = json!({"spec": {"upgradeProbe": probe}}).to_string();
    env.kubectl(["patch", "secureworkspace", "ml-prod", "-n", ns, "--type=merge", "-p", &patch]).await.expect("kubectl")
}

/// Server-side applies the sample with `spec.upgradeProbe` set (refused when not declared).
async fn apply_probe(env: &TestEnv, ns: &str, probe: &str) -> Output {
    let mut obj = support::e2e::sample("secureworkspace.yaml", ns);
    obj["spec"]["upgradeProbe"] = json!(probe);
    env.kubectl_with_stdin(["apply", "--server-side", "--force-conflicts", "-f", "-"], obj.to_string().as_bytes()).await.expect("kubectl")
}

#[tokio::test]
async fn crds_are_adopted_upgraded_with_new_fields_and_kept_on_uninstall_with_their_objects() {
    let env = support::testenv::shared().await;
    if env.helm.is_none() {
        eprintln!("\n!!! SKIPPED crds_are_adopted_upgraded...: no helm binary (scripts/testenv-build.sh builds it unless MOAT_TESTENV_SKIP_HELM=1)\n");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (old, current, next) = (chart_0_1_0_layout(tmp.path()), repo().join("charts/moat"), chart_with_new_field(tmp.path()));
    let release_ns = env.namespace("moat-system").await.expect("namespace");
    let ns = env.namespace("ml").await.expect("namespace");
    let helm = |args: Vec<String>| async move { env.helm(&args).await };
    let chart_args = |verb: &str, chart: &Path| -> Vec<String> {
        // The chart renders nothing until the allowed scope is set.
        vec![verb.into(), "moat".into(), chart.display().to_string(), "-n".into(), release_ns.clone(), "--set".into(), "allowedSubscriptions={*}".into()]
    };

    // 0.1.0: CRDs from crds/, not part of the release.
    ok("helm install 0.1.0", helm(chart_args("install", &old)).await);
    let before = crd(env, CRDS[0]).await.expect("0.1.0 installed the CRD");
    assert!(before["metadata"]["labels"]["app.kubernetes.io/managed-by"].is_null(), "crds/ CRDs are not Helm-managed");
    ok("apply a SecureWorkspace", env.kubectl_with_stdin(["apply", "--server-side", "-f", "-"], support::e2e::sample("secureworkspace.yaml", &ns).to_string().as_bytes()).await);

    // Upgrading straight to templated CRDs is refused by Helm's ownership check ...
    let refused = helm(chart_args("upgrade", &current)).await.expect("run helm");
    assert!(!refused.status.success(), "helm took over unmanaged CRDs silently");
    assert!(text(&refused).contains("invalid ownership metadata"), "{}", text(&refused));
    // ... until scripts/adopt-crds.sh (docs/upgrade.md) hands them to the release.
    let mut adopt = tokio::process::Command::new("bash");
    adopt.arg(repo().join("scripts/adopt-crds.sh")).args(["moat", &release_ns]).env("KUBECTL", &env.kubectl).env("KUBECONFIG", &env.kubeconfig);
    ok("scripts/adopt-crds.sh", adopt.output().await);
    ok("helm upgrade to templated CRDs", helm(chart_args("upgrade", &current)).await);
    for name in CRDS {
        let c = crd(env, name).await.expect("CRD");
        assert_eq!(c["metadata"]["annotations"]["helm.sh/resource-policy"], "keep", "{name}");
        assert_eq!(c["metadata"]["annotations"]["meta.helm.sh/release-name"], "moat", "{name}");
        assert_eq!(c["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm", "{name}");
    }

    // Before the upgrade the new field is not served: refused by server-side apply, pruned
    // from a merge patch.
    let refused = apply_probe(env, &ns, "v1").await;
    assert!(!refused.status.success() && text(&refused).contains("field not declared in schema"), "{}", text(&refused));
    ok("merge patch with an unknown field", Ok(patch_probe(env, &ns, "v1").await));
    let obj = workspace(env, &ns).await.expect("object");
    assert!(obj["spec"]["upgradeProbe"].is_null(), "an undeclared field is pruned: {}", obj["spec"]);

    // helm upgrade to a chart whose CRD adds the field: the CRD changes, the field is served.
    ok("helm upgrade to the next chart", helm(chart_args("upgrade", &next)).await);
    let schema = crd(env, CRDS[0]).await.expect("CRD");
    let props = &schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(props["upgradeProbe"]["type"], "string", "helm upgrade updated the CRD");
    let kept = support::eventually(Duration::from_secs(30), || async {
        let out = patch_probe(env, &ns, "v2").await;
        let obj = workspace(env, &ns).await.ok_or("object gone")?;
        if out.status.success() && obj["spec"]["upgradeProbe"] == "v2" { Ok(obj) } else { Err(format!("not served yet: {}", obj["spec"]["upgradeProbe"])) }
    })
    .await
    .unwrap_or_else(|e| panic!("the new field is not served after helm upgrade: {e}"));
    assert_eq!(kept["spec"]["upgradeProbe"], "v2");
    ok("server-side apply with the new field", Ok(apply_probe(env, &ns, "v3").await));
    assert_eq!(workspace(env, &ns).await.expect("object")["spec"]["upgradeProbe"], "v3");

    // helm uninstall keeps the CRDs and every custom resource.
    let uninstall = ok("helm uninstall", helm(vec!["uninstall".into(), "moat".into(), "-n".into(), release_ns.clone()]).await);
    assert!(uninstall.contains("kept due to the resource policy"), "{uninstall}");
    for name in CRDS {
        assert!(crd(env, name).await.is_some(), "helm uninstall deleted {name}");
    }
    let survivor = workspace(env, &ns).await.expect("helm uninstall deleted the SecureWorkspace");
    assert_eq!(survivor["spec"]["upgradeProbe"], "v3", "and it still has the new field");

    // Installing again adopts the kept CRDs (same release name and namespace).
    ok("helm install again", helm(chart_args("install", &next)).await);
    assert!(workspace(env, &ns).await.is_some());
}
