//! The health/metrics server over real HTTP on loopback, and the `run` orchestration without a
//! cluster (leader election off, controllers that stop on the shutdown switch).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use moat::runtime::{self, Health, HealthServer, Metrics, Phase, RunArgs, Shutdown, StopReason};

const METRIC_NAMES: [&str; 12] = [
    "moat_reconcile_total",
    "moat_reconcile_duration_seconds",
    "moat_reconcile_errors_total",
    "moat_reconcile_queue_depth",
    "moat_reconciles_in_flight",
    "moat_reconcile_longest_running_seconds",
    "moat_arm_requests_total",
    "moat_arm_request_duration_seconds",
    "moat_arm_operations_in_flight",
    "moat_arm_observe_reads_total",
    "moat_constraint_findings",
    "moat_leader",
];

async fn start(health: Health, metrics: Metrics) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
    let server = HealthServer::bind("127.0.0.1:0".parse().expect("addr"), health, metrics).await.expect("bind");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let stop = Shutdown::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { server.serve(stop.stopped()).await.expect("serve") }
    });
    (addr, stop, task)
}

async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, ct, resp.text().await.expect("body"))
}

#[tokio::test]
async fn healthz_readyz_and_metrics() {
    let health = Health::new();
    let metrics = Metrics::new();
    let (addr, stop, task) = start(health.clone(), metrics.clone()).await;

    assert_eq!(get(addr, "/healthz", None).await.0, 200);
    let (status, _, body) = get(addr, "/readyz", None).await;
    assert_eq!((status, body.trim()), (503, "starting"));

    health.set_phase(Phase::Standby);
    assert_eq!(get(addr, "/readyz", None).await.0, 200, "a healthy standby is ready");
    health.set_phase(Phase::Running);
    let (status, _, body) = get(addr, "/readyz", None).await;
    assert_eq!((status, body.trim()), (200, "running"));
    health.set_phase(Phase::Stopping);
    assert_eq!(get(addr, "/readyz", None).await.0, 503);
    assert_eq!(get(addr, "/healthz", None).await.0, 200, "liveness does not follow the phase");

    // One observation per family so every sample name shows up.
    metrics.reconcile_timer("SecureWorkspace").failure("Arm");
    metrics.arm().observe("GET", "Microsoft.Network/virtualNetworks", 200, Duration::from_millis(30));
    metrics.set_object_findings("SecureWorkspace", "team-a/ws", [("NET-008", "Warning")]);
    metrics.init_kinds(&["SecureWorkspace"]);
    metrics.arm().operation_running("PUT /x", "PUT", "Microsoft.Network/virtualNetworks");
    metrics.arm().observe_read("Microsoft.Network/virtualNetworks", "reused");
    metrics.set_leader(true);
    let (status, ct, body) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("text/plain; version=0.0.4; charset=utf-8"));
    for name in METRIC_NAMES {
        assert!(body.contains(&format!("# TYPE {name} ")), "no {name} in\n{body}");
    }
    assert!(body.contains(r#"moat_reconcile_errors_total{kind="SecureWorkspace",reason="Arm"} 1"#), "{body}");
    assert!(body.contains(r#"moat_arm_observe_reads_total{resource_type="Microsoft.Network/virtualNetworks",outcome="reused"} 1"#), "{body}");

    let (status, ct, body) = get(addr, "/metrics", Some("application/openmetrics-text;version=1.0.0")).await;
    assert_eq!(status, 200);
    assert!(ct.as_deref().is_some_and(|c| c.starts_with("application/openmetrics-text")), "{ct:?}");
    assert!(body.ends_with("# EOF\n"));

    assert_eq!(get(addr, "/nope", None).await.0, 404);

    stop.trigger(StopReason::Signal("TEST"));
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("server stops on shutdown").expect("join");
}

#[tokio::test]
async fn bind_conflict_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let err = HealthServer::bind(addr, Health::new(), Metrics::new()).await.expect_err("port in use");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// A kubeconfig for a server that is never contacted: `run` builds a client but, with leader
/// election off, only the controllers would use it.
fn offline_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n\
         users:\n- name: u\n  user:\n    token: not-a-real-token\n",
    )
    .expect("write kubeconfig");
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn run_args(kubeconfig: &std::path::Path, port: u16) -> RunArgs {
    Cli::try_parse_from([
        "moat",
        "--leader-elect=false",
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
        "--kubeconfig",
        kubeconfig.to_str().expect("utf-8 path"),
    ])
    .expect("flags")
    .run
}

#[tokio::test]
async fn run_serves_ready_while_controllers_run_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let args = run_args(&offline_kubeconfig(dir.path()), port);
    let reason = runtime::run(args, move |ctx| async move {
        assert_eq!(ctx.health.phase(), Phase::Running);
        assert!(ctx.metrics.is_leader(), "moat_leader is 1 without leader election");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let (status, _, body) = get(addr, "/readyz", None).await;
        assert_eq!((status, body.trim()), (200, "running"));
        let (_, _, metrics) = get(addr, "/metrics", None).await;
        assert!(metrics.contains(r#"moat_reconcile_total{kind="ComputeSubnet",result="success"} 0"#), "{metrics}");
        // What a SIGTERM does, then what graceful_shutdown_on would wait for.
        ctx.shutdown.trigger(StopReason::Signal("TEST"));
        ctx.stopped().await;
        Ok::<(), std::io::Error>(())
    })
    .await
    .expect("run");
    assert_eq!(reason, StopReason::Signal("TEST"));
    assert_eq!(reason.exit_code(), 0);
    // The server is gone once run returns.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn run_reports_controller_errors_and_early_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = offline_kubeconfig(dir.path());
    let err = runtime::run(run_args(&kubeconfig, free_port()), |_ctx| async {
        Err::<(), _>(std::io::Error::other("CRDs are not installed"))
    })
    .await
    .expect_err("controller error surfaces");
    assert!(err.to_string().contains("CRDs are not installed"), "{err}");

    let reason = runtime::run(run_args(&kubeconfig, free_port()), |_ctx| async { Ok::<(), std::io::Error>(()) })
        .await
        .expect("run");
    assert_eq!(reason, StopReason::ControllersExited);
    assert_eq!(reason.exit_code(), 1);
}

#[tokio::test]
async fn run_refuses_invalid_flags_before_doing_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = run_args(&offline_kubeconfig(dir.path()), free_port());
    args.credential = runtime::CredentialKind::Static;
    let err = runtime::run(args, |_ctx| async { Ok::<(), std::io::Error>(()) }).await.expect_err("no token");
    assert!(matches!(err, runtime::RuntimeError::Config(_)), "{err}");
}
