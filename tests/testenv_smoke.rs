//! The test control plane starts and behaves like a real cluster: the kube
//! client and kubectl reach it, and RBAC is enforced.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

#[tokio::test]
async fn kube_client_reaches_the_apiserver() {
    let env = support::testenv::shared().await;
    let client = env.client();

    let readyz = client
        .request_text(
            http::Request::get("/readyz")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect("GET /readyz");
    assert_eq!(readyz, "ok");
    let version = client.apiserver_version().await.expect("GET /version");
    assert_eq!(version.git_version, "v1.36.3");

    let namespaces = Api::<Namespace>::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list namespaces")
        .into_iter()
        .filter_map(|ns| ns.metadata.name)
        .collect();
    assert!(
        names.iter().any(|n| n == "kube-system"),
        "namespaces: {names:?}"
    );

    let ns = env.namespace("smoke").await.expect("create namespace");
    namespaces.get(&ns).await.expect("get the new namespace");
    let config_maps = Api::<ConfigMap>::namespaced(client, &ns);
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("greeting".into()),
            ..ObjectMeta::default()
        },
        data: Some([("hello".to_owned(), "world".to_owned())].into()),
        ..ConfigMap::default()
    };
    config_maps
        .create(&PostParams::default(), &config_map)
        .await
        .expect("create ConfigMap");
    let stored = config_maps.get("greeting").await.expect("get ConfigMap");
    assert_eq!(stored.data, config_map.data);
}

#[tokio::test]
async fn kubectl_reaches_the_apiserver() {
    let env = support::testenv::shared().await;

    let out = env
        .kubectl(["version", "-o", "json"])
        .await
        .expect("run kubectl version");
    assert!(
        out.status.success(),
        "kubectl version: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("kubectl version prints JSON");
    assert_eq!(
        version["serverVersion"]["gitVersion"], "v1.36.3",
        "{version}"
    );
    assert_eq!(
        version["clientVersion"]["gitVersion"], "v1.36.3",
        "{version}"
    );

    let ns = env.namespace("kubectl").await.expect("create namespace");
    let out = env
        .kubectl(["get", "ns", "-o", "name"])
        .await
        .expect("run kubectl get ns");
    assert!(
        out.status.success(),
        "kubectl get ns: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.lines().any(|l| l == format!("namespace/{ns}")),
        "kubectl get ns:\n{listed}"
    );

    let manifest =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: {ns}\n");
    let out = env
        .kubectl_with_stdin(["apply", "-f", "-"], manifest.as_bytes())
        .await
        .expect("run kubectl apply");
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Api::<ConfigMap>::namespaced(env.client(), &ns)
        .get("applied")
        .await
        .expect("the applied ConfigMap exists");
}

#[tokio::test]
async fn rbac_is_enforced() {
    let env = support::testenv::shared().await;
    let ns = env.namespace("rbac").await.expect("create namespace");
    let service_account = format!("system:serviceaccount:{ns}:reader");
    let secrets = Api::<Secret>::namespaced(env.client_as(&service_account, &[]), &ns);

    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing secrets without a RoleBinding should be Forbidden, got {other:?}"),
    }
    let out = env
        .kubectl([
            "auth",
            "can-i",
            "list",
            "secrets",
            "-n",
            &ns,
            "--as",
            &service_account,
        ])
        .await
        .expect("run kubectl auth can-i");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");

    // Granting the permission makes the same request pass once the authorizer has seen the binding.
    let admin = env.client();
    let role = Role {
        metadata: ObjectMeta {
            name: Some("secret-reader".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: vec!["list".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("create Role");
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("secret-reader".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "secret-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "reader".into(),
            namespace: Some(ns.clone()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create RoleBinding");
    let list_params = ListParams::default();
    support::eventually(Duration::from_secs(10), || secrets.list(&list_params))
        .await
        .expect("listing secrets is allowed once the RoleBinding exists");
}

#[tokio::test]
async fn helm_installs_a_chart() {
    let env = support::testenv::shared().await;
    if env.helm.is_none() {
        eprintln!("helm was not built (MOAT_TESTENV_SKIP_HELM=1?): skipping");
        return;
    }
    let ns = env.namespace("helm").await.expect("create namespace");
    let chart = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(chart.path().join("templates")).expect("create templates/");
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: smoke\nversion: 0.1.0\nkubeVersion: \">=1.36.0-0\"\n",
    )
    .expect("write Chart.yaml");
    std::fs::write(
        chart.path().join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
    )
    .expect("write the template");

    let out = env
        .helm(["version", "--short"])
        .await
        .expect("run helm version");
    assert!(
        out.status.success(),
        "helm version: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("v3."),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // `helm template` assumes the Kubernetes version of its own k8s.io modules (1.36).
    let chart_dir = chart.path().to_str().expect("a UTF-8 temp path");
    let out = env
        .helm(["template", "smoke", chart_dir])
        .await
        .expect("run helm template");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kube: \"v1.36."),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = env
        .helm(["install", "smoke", chart_dir, "--namespace", &ns])
        .await
        .expect("run helm install");
    assert!(
        out.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = Api::<ConfigMap>::namespaced(env.client(), &ns)
        .get("smoke")
        .await
        .expect("the chart's ConfigMap exists");
    assert_eq!(
        installed
            .data
            .and_then(|d| d.get("kube").cloned())
            .as_deref(),
        Some("v1.36.3")
    );
}
