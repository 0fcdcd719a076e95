//! The packaging against a real kube-apiserver (tests/support/testenv): the Helm chart and the
//! kustomize tree render, apply, and give moat's ServiceAccount exactly the access it needs.
//!
//! Access is checked with `kubectl auth can-i --as=system:serviceaccount:<ns>:<sa>`, which asks
//! the apiserver's RBAC authorizer (a SubjectAccessReview), for both what moat must be able to do
//! and what it must not. The Helm tests need the helm binary that scripts/testenv-build.sh builds;
//! without it they print a loud SKIPPED message and pass. The kustomize tests only need kubectl.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use support::testenv::TestEnv;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    repo().join("charts/moat")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok(what: &str, out: std::io::Result<Output>) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(out.status.success(), "{what} failed ({}):\n{}", out.status, text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether helm is there; prints why a test is skipped when it is not.
fn helm_or_skip(env: &TestEnv, test: &str) -> bool {
    if env.helm.is_some() {
        return true;
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! SKIPPED {test}: no helm binary in the test environment.\n\
         !!! scripts/testenv-build.sh builds it unless MOAT_TESTENV_SKIP_HELM=1.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    false
}

/// `helm template` of the chart as release `moat` in `namespace` with extra `--set`s. The chart
/// renders nothing until the allowed scope is set: `allowedSubscriptions={*}` unless `sets` give it.
async fn helm_template(env: &TestEnv, namespace: &str, sets: &[&str]) -> String {
    helm_template_release(env, "moat", namespace, sets).await
}

/// `helm template` of the chart as `release` in `namespace` with extra `--set`s.
async fn helm_template_release(env: &TestEnv, release: &str, namespace: &str, sets: &[&str]) -> String {
    let mut args: Vec<String> = vec!["template".into(), release.into(), chart().display().to_string()];
    args.extend(["--namespace".into(), namespace.into()]);
    if !sets.iter().any(|s| s.starts_with("allowedSubscriptions=")) {
        args.extend(["--set".into(), "allowedSubscriptions={*}".into()]);
    }
    for s in sets {
        args.extend(["--set".into(), (*s).into()]);
    }
    ok("helm template", env.helm(&args).await)
}

async fn apply(env: &TestEnv, manifests: &str) {
    ok(
        "kubectl apply",
        env.kubectl_with_stdin(["apply", "--server-side", "--force-conflicts", "-f", "-"], manifests.as_bytes()).await,
    );
}

async fn apply_crds(env: &TestEnv) {
    let dir = chart().join("files/crds");
    ok(
        "kubectl apply CRDs",
        env.kubectl(["apply", "--server-side", "--force-conflicts", "-f", &dir.display().to_string()]).await,
    );
}

/// Parses a multi-document YAML stream into its non-empty documents.
fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap_or_else(|e| panic!("rendered manifests are not YAML: {e}\n{yaml}"))
        .into_iter()
        .filter(|d| d.is_object())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// One `kubectl auth can-i` question and the answer moat's RBAC must give.
#[derive(Clone, Debug)]
struct Check {
    verb: &'static str,
    /// `resource.group` or `resource.group/name`.
    resource: String,
    subresource: Option<&'static str>,
    namespace: String,
    allowed: bool,
}

fn check(verb: &'static str, resource: &str, namespace: &str, allowed: bool) -> Check {
    Check { verb, resource: resource.into(), subresource: None, namespace: namespace.into(), allowed }
}

fn sub(verb: &'static str, resource: &str, subresource: &'static str, namespace: &str, allowed: bool) -> Check {
    Check { subresource: Some(subresource), ..check(verb, resource, namespace, allowed) }
}

const MOAT_KINDS: [&str; 3] = ["secureworkspaces.moat.dev", "privateendpointbindings.moat.dev", "computesubnets.moat.dev"];
const LEASES: &str = "leases.coordination.k8s.io";
const POLICIES: &str = "azurescopepolicies.moat.dev";

/// What moat needs in `watched` (objects) with its lease `lease` in `lease_ns`, and what it must
/// never be able to do there or in `elsewhere`.
fn moat_access(watched: &str, lease_ns: &str, lease: &str, elsewhere: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    for kind in MOAT_KINDS {
        for verb in ["get", "list", "watch", "patch", "update"] {
            checks.push(check(verb, kind, watched, true));
        }
        checks.push(sub("patch", kind, "status", watched, true));
        checks.push(sub("update", kind, "status", watched, true));
        checks.push(sub("update", kind, "finalizers", watched, true));
    }
    checks.extend([
        check("create", "privateendpointbindings.moat.dev", watched, true),
        check("delete", "privateendpointbindings.moat.dev", watched, true),
        check("create", "events.events.k8s.io", watched, true),
        check("patch", "events.events.k8s.io", watched, true),
        // Tenancy: the cluster-scoped policies and the namespaces' labels are read.
        check("get", POLICIES, watched, true),
        check("list", POLICIES, watched, true),
        check("watch", POLICIES, watched, true),
        sub("patch", POLICIES, "status", watched, true),
        check("list", "namespaces", watched, true),
        check("watch", "namespaces", watched, true),
        check("create", LEASES, lease_ns, true),
        check("get", &format!("{LEASES}/{lease}"), lease_ns, true),
        check("update", &format!("{LEASES}/{lease}"), lease_ns, true),
        check("patch", &format!("{LEASES}/{lease}"), lease_ns, true),
        // Must not:
        // Secrets only in the tenants' namespaces (tenancy-rbac.yaml), never by default.
        check("get", "secrets", watched, false),
        check("create", POLICIES, watched, false),
        check("patch", POLICIES, watched, false),
        check("delete", POLICIES, watched, false),
        check("patch", "namespaces", watched, false),
        check("create", "secureworkspaces.moat.dev", watched, false),
        check("delete", "secureworkspaces.moat.dev", watched, false),
        check("create", "computesubnets.moat.dev", watched, false),
        check("delete", "computesubnets.moat.dev", watched, false),
        check("deletecollection", "privateendpointbindings.moat.dev", watched, false),
        check("delete", "secrets", watched, false),
        check("list", "secrets", watched, false),
        check("watch", "secrets", watched, false),
        check("create", "secrets", watched, false),
        check("update", "secrets", watched, false),
        check("list", "pods", watched, false),
        check("get", "pods", watched, false),
        check("get", "configmaps", watched, false),
        check("delete", "events.events.k8s.io", watched, false),
        check("update", &format!("{LEASES}/{lease}"), elsewhere, false),
        check("create", LEASES, elsewhere, false),
        check("update", &format!("{LEASES}/someone-elses-lease"), lease_ns, false),
        check("delete", &format!("{LEASES}/{lease}"), lease_ns, false),
        check("create", "customresourcedefinitions.apiextensions.k8s.io", watched, false),
        check("create", "clusterrolebindings.rbac.authorization.k8s.io", watched, false),
        check("create", "rolebindings.rbac.authorization.k8s.io", watched, false),
        check("impersonate", "serviceaccounts", watched, false),
    ]);
    checks
}

async fn can_i(env: &TestEnv, user: &str, c: &Check) -> Result<bool, String> {
    let mut args = vec!["auth".to_owned(), "can-i".into(), c.verb.into(), c.resource.clone()];
    if let Some(s) = c.subresource {
        args.push(format!("--subresource={s}"));
    }
    args.extend(["-n".into(), c.namespace.clone(), format!("--as={user}")]);
    let out = env.kubectl(&args).await.map_err(|e| format!("run kubectl: {e}"))?;
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("kubectl {}: {}", args.join(" "), text(&out))),
    }
}

/// Asks every check (8 at a time) and fails with the full list of wrong answers.
async fn assert_access(env: &TestEnv, user: &str, checks: &[Check]) {
    // New bindings reach the authorizer through an informer: wait for the first grant.
    let first = checks.iter().find(|c| c.allowed).expect("at least one allowed check");
    support::eventually(Duration::from_secs(15), || async {
        match can_i(env, user, first).await {
            Ok(true) => Ok(()),
            other => Err(format!("{first:?}: {other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{user} never got its first permission: {e}"));

    let answers: Vec<(Check, Result<bool, String>)> = futures::stream::iter(checks.iter().cloned())
        .map(|c| async move {
            let answer = can_i(env, user, &c).await;
            (c, answer)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let wrong: Vec<String> = answers
        .iter()
        .filter(|(c, a)| a.as_ref().ok() != Some(&c.allowed))
        .map(|(c, a)| {
            format!(
                "{} {}{} -n {}: want {}, got {a:?}",
                c.verb,
                c.resource,
                c.subresource.map(|s| format!(" --subresource={s}")).unwrap_or_default(),
                c.namespace,
                if c.allowed { "yes" } else { "no" },
            )
        })
        .collect();
    assert!(wrong.is_empty(), "RBAC of {user} is wrong for {} of {} checks:\n  {}", wrong.len(), answers.len(), wrong.join("\n  "));
}

#[tokio::test]
async fn chart_rbac_grants_exactly_what_moat_needs() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "chart_rbac_grants_exactly_what_moat_needs") {
        return;
    }
    let ns = env.namespace("moat-chart").await.expect("namespace");
    let other = env.namespace("other").await.expect("namespace");
    apply_crds(env).await;
    let rendered = helm_template(env, &ns, &[]).await;
    apply(env, &rendered).await;

    let docs = documents(&rendered);
    let sa = find(&docs, "ServiceAccount");
    assert_eq!(sa.len(), 1);
    let sa_name = sa[0]["metadata"]["name"].as_str().expect("sa name");
    let user = format!("system:serviceaccount:{ns}:{sa_name}");
    // Cluster-wide: the objects may live in any namespace, the lease only in the release namespace.
    let mut checks = moat_access(&ns, &ns, "moat-leader", &other);
    checks.extend(moat_access(&other, &ns, "moat-leader", &other).into_iter().filter(|c| c.namespace == other));
    assert_access(env, &user, &checks).await;
}

#[tokio::test]
async fn chart_with_watch_namespaces_grants_access_there_only() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "chart_with_watch_namespaces_grants_access_there_only") {
        return;
    }
    let ns = env.namespace("moat-scoped").await.expect("namespace");
    let watched = env.namespace("team-a").await.expect("namespace");
    let also = env.namespace("team-c").await.expect("namespace");
    let other = env.namespace("team-b").await.expect("namespace");
    apply_crds(env).await;
    let rendered = helm_template(env, &ns, &[&format!("watchNamespaces={{{watched},{also}}}"), "leaderElection.leaseName=scoped"]).await;
    let docs = documents(&rendered);
    // Only the tenancy inputs (policies, namespace labels), which are cluster-scoped, are bound cluster-wide.
    let cluster_bindings = find(&docs, "ClusterRoleBinding");
    assert!(
        cluster_bindings.iter().all(|b| b["roleRef"]["name"].as_str().is_some_and(|n| n.ends_with("-tenancy"))),
        "watchNamespaces must not bind the reconcilers' role cluster-wide: {cluster_bindings:?}"
    );
    let bindings = find(&docs, "RoleBinding");
    for n in [&watched, &also] {
        assert!(bindings.iter().any(|b| b["metadata"]["namespace"] == n.as_str() && b["roleRef"]["kind"] == "ClusterRole"), "a RoleBinding in {n}");
    }
    apply(env, &rendered).await;
    assert!(
        rendered.contains(&format!("--namespace={watched},{also}")),
        "the Deployment passes --namespace:\n{rendered}"
    );

    let user = format!("system:serviceaccount:{ns}:moat");
    let mut checks = moat_access(&watched, &ns, "scoped", &other);
    checks.extend(moat_access(&also, &ns, "scoped", &other).into_iter().filter(|c| c.namespace == also));
    checks.extend([
        check("get", "secureworkspaces.moat.dev", &other, false),
        check("list", "secureworkspaces.moat.dev", &other, false),
        check("get", "secrets", &other, false),
        check("get", "secrets", &ns, false),
        check("create", "events.events.k8s.io", &other, false),
    ]);
    assert_access(env, &user, &checks).await;
}

#[tokio::test]
async fn chart_renders_deterministically_with_hardened_pod_and_options() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "chart_renders_deterministically_with_hardened_pod_and_options") {
        return;
    }
    ok("helm lint", env.helm(["lint", "--strict", &chart().display().to_string()]).await);
    let sets = [
        "azure.workloadIdentity.clientId=11111111-2222-3333-4444-555555555555",
        "metrics.serviceMonitor.enabled=true",
        "allowedSubscriptions={00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002}",
        "armEndpoint=http://127.0.0.1:9000",
        "watchNamespaces={ml}",
    ];
    let a = helm_template(env, "moat-system", &sets).await;
    let b = helm_template(env, "moat-system", &sets).await;
    assert_eq!(a, b, "two renders differ: the chart must be deterministic for Argo CD");
    assert!(!a.contains("helm.sh/hook"), "no hooks");

    let docs = documents(&a);
    let sa = find(&docs, "ServiceAccount")[0];
    assert_eq!(sa["metadata"]["annotations"]["azure.workload.identity/client-id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(find(&docs, "ServiceMonitor").len(), 1);
    let deploy = find(&docs, "Deployment")[0];
    let pod = &deploy["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["azure.workload.identity/use"], "true");
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["spec"]["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let env_names: Vec<&str> = c["env"].as_array().expect("env").iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(env_names.contains(&"POD_NAME") && env_names.contains(&"POD_NAMESPACE"), "{env_names:?}");
    let args: Vec<&str> = c["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
    for want in [
        "run",
        "--leader-elect=true",
        "--leader-election-namespace=moat-system",
        "--arm-endpoint=http://127.0.0.1:9000",
        "--allowed-subscriptions=00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002",
        "--namespace=ml",
        "--resync-seconds=300",
        "--activity-log-lag-seconds=300",
    ] {
        assert!(args.contains(&want), "missing {want} in {args:?}");
    }

    // The default render has no ServiceMonitor and no workload-identity label.
    let plain = documents(&helm_template(env, "moat-system", &[]).await);
    assert!(find(&plain, "ServiceMonitor").is_empty());
    assert!(find(&plain, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"].is_null());
}

#[tokio::test]
async fn chart_values_schema_rejects_bad_values() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "chart_values_schema_rejects_bad_values") {
        return;
    }
    // Each bad value on an otherwise valid render is refused with a message naming the key.
    let scoped = "allowedSubscriptions={*}";
    for (bad, names) in [
        ("cloud=Mars", "cloud"),
        ("resyncSeconds=1", "resyncSeconds"),
        ("logFormat=xml", "logFormat"),
        ("allowedSubscriptions={prod}", "allowedSubscriptions"),
        ("typo=1", "typo"),
        ("watchNamespace=ml", "watchNamespaces={ml}"),
        ("watchNamespaces={Team_A}", "watchNamespaces"),
        ("nameOverride=Not_A_Name", "nameOverride"),
        ("fullnameOverride=UPPER", "fullnameOverride"),
        ("extraArgs={run}", "extraArgs"),
        ("podDisruptionBudget.minAvailable=most", "minAvailable"),
        ("networkPolicy.azure.cidrs={management.azure.com}", "cidrs"),
        ("networkPolicy.apiServer.ports={0}", "ports"),
        ("crds.keep=maybe", "keep"),
        ("tenancy.credentialNamespaces={Bad_NS}", "credentialNamespaces"),
    ] {
        let out = env
            .helm(["template", "moat", &chart().display().to_string(), "--set", scoped, "--set", bad])
            .await
            .expect("run helm");
        assert!(!out.status.success(), "helm accepted --set {bad}");
        assert!(text(&out).contains(names), "--set {bad}: the error names `{names}`:\n{}", text(&out));
    }
    let out = env
        .helm(["template", "moat", &chart().display().to_string(), "--set", scoped, "--set", "podDisruptionBudget.enabled=true", "--set", "podDisruptionBudget.minAvailable=1", "--set", "podDisruptionBudget.maxUnavailable=1"])
        .await
        .expect("run helm");
    assert!(!out.status.success() && text(&out).contains("minAvailable or maxUnavailable, not both"), "{}", text(&out));
    let out = env
        .helm(["template", "moat", &chart().display().to_string(), "--set", scoped, "--set", "leaderElection.enabled=false", "--set", "replicaCount=2"])
        .await
        .expect("run helm");
    assert!(!out.status.success(), "two replicas without leader election must be refused");
}

/// The kustomize tree: renders with the testenv's kubectl, applies, and grants the same access.
#[tokio::test]
async fn kustomize_default_renders_applies_and_grants_moat_access() {
    let env = support::testenv::shared().await;
    let rendered = ok(
        "kubectl kustomize config/default",
        env.kubectl(["kustomize", &repo().join("config/default").display().to_string()]).await,
    );
    let docs = documents(&rendered);
    assert_eq!(find(&docs, "CustomResourceDefinition").len(), moat::api::crds().len());
    let deploy = find(&docs, "Deployment")[0];
    assert_eq!(deploy["metadata"]["namespace"], "moat-system");
    assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["image"], format!("moat:{}", env!("CARGO_PKG_VERSION")).as_str());
    apply(env, &rendered).await;

    let other = env.namespace("kustomize-other").await.expect("namespace");
    let checks = moat_access(&other, "moat-system", "moat-leader", &other);
    assert_access(env, "system:serviceaccount:moat-system:moat", &checks).await;
}

/// `config/rbac` and the chart grant the same rules.
#[tokio::test]
async fn kustomize_rbac_matches_the_chart() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "kustomize_rbac_matches_the_chart") {
        return;
    }
    let chart_docs = documents(&helm_template(env, "moat-system", &[]).await);
    let kustomize_docs = documents(&ok(
        "kubectl kustomize config/rbac",
        env.kubectl(["kustomize", &repo().join("config/rbac").display().to_string()]).await,
    ));
    let tenant_docs = documents(&ok(
        "kubectl kustomize config/rbac/tenant-credentials",
        env.kubectl(["kustomize", &repo().join("config/rbac/tenant-credentials").display().to_string()]).await,
    ));
    let rules = |docs: &[Value], kind: &str| -> Vec<String> {
        let mut r: Vec<String> = find(docs, kind).iter().map(|d| d["rules"].to_string()).collect();
        r.sort();
        r
    };
    for kind in ["ClusterRole", "Role"] {
        assert_eq!(rules(&chart_docs, kind), rules(&kustomize_docs, kind), "{kind} rules differ between charts/moat and config/rbac");
    }
    // A tenant namespace's Role is the chart's too.
    let chart_tenant = documents(&helm_template(env, "moat-system", &["tenancy.credentialNamespaces={team-a}"]).await);
    let tenant_role = |docs: &[Value]| find(docs, "Role").into_iter().find(|r| r["metadata"]["name"].as_str().is_some_and(|n| n.ends_with("-credentials"))).map(|r| r["rules"].clone());
    assert_eq!(tenant_role(&chart_tenant), tenant_role(&tenant_docs), "the tenant credentials Role differs between charts/moat and config/rbac/tenant-credentials");
}

/// Secure by default: the chart renders nothing until the allowed scope is set, and moat's
/// ServiceAccount reads Secrets only in the namespaces the tenants' policies name (and the shared
/// credentials namespace): not in kube-system, not in its own namespace, not anywhere else.
#[tokio::test]
async fn chart_reads_secrets_only_in_the_tenants_namespaces() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "chart_reads_secrets_only_in_the_tenants_namespaces") {
        return;
    }
    let out = env.helm(["template", "moat", &chart().display().to_string()]).await.expect("run helm");
    assert!(
        !out.status.success() && text(&out).contains("allowedSubscriptions is empty") && text(&out).contains("[\"*\"]"),
        "the chart must refuse to render without an allowed scope, saying how to set it:\n{}",
        text(&out)
    );

    let ns = env.namespace("moat-tenancy").await.expect("namespace");
    let team_a = env.namespace("team-a").await.expect("namespace");
    let team_b = env.namespace("team-b").await.expect("namespace");
    let platform = env.namespace("platform").await.expect("namespace");
    let other = env.namespace("other").await.expect("namespace");
    let sub = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    let values = serde_json::json!({
        "allowedSubscriptions": [sub],
        "tenancy": {
            "policies": [
                {"name": team_a, "spec": {"namespaces": {"names": [team_a]}, "scopes": [format!("/subscriptions/{sub}/resourceGroups/rg-a")], "identity": {"allowOperatorIdentity": true}}},
                {"name": team_b, "spec": {"namespaces": {"names": [team_b]}, "scopes": [format!("/subscriptions/{sub}/resourceGroups/rg-b")], "identity": {"secretRef": {"namespace": platform, "name": "team-b-sp"}}}}
            ]
        }
    });
    let file = tempfile::NamedTempFile::new().expect("values file");
    std::fs::write(file.path(), values.to_string()).expect("write values");
    apply_crds(env).await;
    let rendered = ok(
        "helm template",
        env.helm(["template", "moat", &chart().display().to_string(), "--namespace", &ns, "-f", &file.path().display().to_string()]).await,
    );
    let docs = documents(&rendered);
    let policies: Vec<&str> = find(&docs, "AzureScopePolicy").iter().filter_map(|p| p["metadata"]["name"].as_str()).collect();
    assert_eq!(policies, vec![team_a.as_str(), team_b.as_str()], "the tenants' policies are rendered");
    let mut secret_namespaces: Vec<&str> = find(&docs, "RoleBinding")
        .iter()
        .filter(|b| b["metadata"]["name"].as_str().is_some_and(|n| n.ends_with("-credentials")))
        .filter_map(|b| b["metadata"]["namespace"].as_str())
        .collect();
    secret_namespaces.sort();
    let mut want = vec![team_a.as_str(), team_b.as_str(), platform.as_str()];
    want.sort();
    assert_eq!(secret_namespaces, want, "a credentials RoleBinding in each namespace the policies name, nowhere else");
    apply(env, &rendered).await;

    let user = format!("system:serviceaccount:{ns}:moat");
    let mut checks = vec![
        check("get", "secrets", &team_a, true),
        check("get", "secrets", &team_b, true),
        check("get", "secrets", &platform, true),
        check("get", "secrets", "kube-system", false),
        check("get", "secrets", "default", false),
        check("get", "secrets", &other, false),
        check("get", "secrets", &ns, false),
    ];
    for verb in ["list", "watch", "create", "update", "delete"] {
        checks.push(check(verb, "secrets", &team_a, false));
    }
    assert_access(env, &user, &checks).await;
}

fn container_args(docs: &[Value]) -> Vec<String> {
    let deploy = find(docs, "Deployment")[0];
    deploy["spec"]["template"]["spec"]["containers"][0]["args"].as_array().expect("args").iter().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// The knobs a platform team reaches for: names, extra flags, sharding by label selector (each
/// install its own Lease), PodDisruptionBudget, NetworkPolicy, priority class. Rendered, linted
/// and applied to the real apiserver (which validates every object's structure).
#[tokio::test]
async fn chart_knobs_render_lint_and_apply() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "chart_knobs_render_lint_and_apply") {
        return;
    }
    let ns = env.namespace("moat-knobs").await.expect("namespace");
    apply_crds(env).await;
    let sets = [
        "nameOverride=operator",
        "extraArgs={--retry-seconds=30,--operation-budget-seconds=900}",
        "selector=moat.dev/shard in (a\\,b)",
        "replicaCount=2",
        "podDisruptionBudget.enabled=true",
        "networkPolicy.enabled=true",
        "networkPolicy.apiServer.cidrs={10.0.0.1/32}",
        "networkPolicy.metrics.from[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
        "priorityClassName=system-cluster-critical",
        "crds.enabled=false",
    ];
    let mut lint: Vec<String> = vec!["lint".into(), "--strict".into(), chart().display().to_string()];
    for s in sets {
        lint.extend(["--set".into(), s.into()]);
    }
    ok("helm lint with every knob", env.helm(&lint).await);
    let rendered = helm_template(env, &ns, &sets).await;
    let docs = documents(&rendered);
    apply(env, &rendered).await;

    // nameOverride: names and the name label; the lease follows the fullname.
    let deploy = find(&docs, "Deployment")[0];
    assert_eq!(deploy["metadata"]["name"], "moat-operator");
    assert_eq!(deploy["metadata"]["labels"]["app.kubernetes.io/name"], "operator");
    assert_eq!(deploy["spec"]["template"]["spec"]["priorityClassName"], "system-cluster-critical");
    let args = container_args(&docs);
    for want in ["--lease-name=moat-operator-leader", "--selector=moat.dev/shard in (a,b)", "--retry-seconds=30", "--operation-budget-seconds=900"] {
        assert!(args.iter().any(|a| a == want), "missing {want} in {args:?}");
    }
    assert!(args.iter().position(|a| a == "--retry-seconds=30") > args.iter().position(|a| a.starts_with("--credential=")), "extraArgs come last: {args:?}");
    assert!(find(&docs, "CustomResourceDefinition").is_empty(), "crds.enabled=false renders no CRD");

    // PodDisruptionBudget: one pod at a time by default, selecting the moat pods.
    let pdb = find(&docs, "PodDisruptionBudget")[0];
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], deploy["spec"]["selector"]["matchLabels"]);
    let min = documents(&helm_template(env, &ns, &["podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=50%"]).await);
    assert_eq!(find(&min, "PodDisruptionBudget")[0]["spec"]["minAvailable"], "50%");
    assert!(find(&min, "PodDisruptionBudget")[0]["spec"].get("maxUnavailable").is_none());

    // NetworkPolicy: ingress only on the metrics port from the monitoring namespace; egress to
    // the API server address, HTTPS (ARM, Entra ID) and DNS only.
    let np = find(&docs, "NetworkPolicy")[0];
    assert_eq!(np["spec"]["podSelector"]["matchLabels"], deploy["spec"]["selector"]["matchLabels"]);
    assert_eq!(np["spec"]["policyTypes"], serde_json::json!(["Ingress", "Egress"]));
    let ingress = np["spec"]["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["ports"][0]["port"], "http-metrics");
    assert_eq!(ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "monitoring");
    let egress = np["spec"]["egress"].as_array().expect("egress");
    assert_eq!(egress[0]["to"][0]["ipBlock"]["cidr"], "10.0.0.1/32");
    let ports = |rule: &Value| rule["ports"].as_array().expect("ports").iter().map(|p| p["port"].as_i64().expect("port")).collect::<Vec<_>>();
    assert_eq!(ports(&egress[0]), [443, 6443]);
    assert_eq!(ports(&egress[1]), [443]);
    assert!(egress[1].get("to").is_none(), "Azure: any destination on 443 unless cidrs are set");
    assert_eq!(ports(&egress[2]), [53, 53]);
    assert_eq!(egress[2]["to"][0]["podSelector"]["matchLabels"]["k8s-app"], "kube-dns");
    assert_eq!(egress.len(), 3);
    // Off by default.
    let plain = documents(&helm_template(env, &ns, &[]).await);
    assert!(find(&plain, "NetworkPolicy").is_empty() && find(&plain, "PodDisruptionBudget").is_empty());
    assert!(!container_args(&plain).iter().any(|a| a.starts_with("--selector")));
}

/// A fleet sharded over two installs in one namespace: different names, selectors and Leases,
/// and the two apply side by side without touching each other's objects.
#[tokio::test]
async fn two_sharded_installs_in_one_namespace_have_their_own_lease() {
    let env = support::testenv::shared().await;
    if !helm_or_skip(env, "two_sharded_installs_in_one_namespace_have_their_own_lease") {
        return;
    }
    let ns = env.namespace("moat-shards").await.expect("namespace");
    let other = env.namespace("shard-other").await.expect("namespace");
    apply_crds(env).await;
    let mut leases = Vec::new();
    for shard in ["a", "b"] {
        let rendered = helm_template_release(env, &format!("moat-{shard}"), &ns, &[&format!("selector=moat.dev/shard={shard}"), "crds.enabled=false"]).await;
        apply(env, &rendered).await;
        let docs = documents(&rendered);
        let args = container_args(&docs);
        assert!(args.contains(&format!("--selector=moat.dev/shard={shard}")), "{args:?}");
        let lease = format!("moat-{shard}-leader");
        assert!(args.contains(&format!("--lease-name={lease}")), "{args:?}");
        assert_eq!(find(&docs, "Role")[0]["rules"][1]["resourceNames"], serde_json::json!([lease]));
        leases.push(lease);
    }
    // Each ServiceAccount may renew its own Lease only.
    let checks_a = [
        check("update", &format!("{LEASES}/{}", leases[0]), &ns, true),
        check("update", &format!("{LEASES}/{}", leases[1]), &ns, false),
        check("get", "secureworkspaces.moat.dev", &other, true),
    ];
    assert_access(env, &format!("system:serviceaccount:{ns}:moat-a"), &checks_a).await;
    let checks_b = [check("update", &format!("{LEASES}/{}", leases[1]), &ns, true), check("update", &format!("{LEASES}/{}", leases[0]), &ns, false)];
    assert_access(env, &format!("system:serviceaccount:{ns}:moat-b"), &checks_b).await;
}
