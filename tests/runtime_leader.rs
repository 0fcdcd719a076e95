//! Leader election against a real kube-apiserver (tests/support/testenv), with short leases:
//! one leader at a time, hand-over on release, and `LeaderGuard::lost` firing when the lease is
//! taken or when the API server becomes unreachable (the watchdog, not kube-lease-manager, which
//! keeps retrying silently).

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use moat::runtime::leader::{self, LeaseTiming, LossReason};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const FAST: LeaseTiming = LeaseTiming { duration_secs: 4, grace_secs: 2 };

async fn holder(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .ok()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

#[tokio::test]
async fn one_leader_at_a_time_and_hand_over_on_release() {
    let env = support::testenv::shared().await;
    let ns = env.namespace("lease-handover").await.expect("namespace");
    let client = env.client();

    let a = leader::acquire_with(client.clone(), &ns, "moat-leader", "replica-a", FAST).await.expect("a leads");
    assert_eq!(holder(&client, &ns, "moat-leader").await.as_deref(), Some("replica-a"));

    let b = tokio::spawn({
        let (client, ns) = (client.clone(), ns.clone());
        async move { leader::acquire_with(client, &ns, "moat-leader", "replica-b", FAST).await }
    });
    // Longer than a lease: a keeps renewing, so b must still be waiting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!b.is_finished(), "b became leader while a was renewing");
    assert!(!a.is_lost());

    let released = Instant::now();
    a.release().await.expect("a releases");
    let b = tokio::time::timeout(Duration::from_secs(10), b)
        .await
        .expect("b takes over after the release")
        .expect("join")
        .expect("b leads");
    assert!(released.elapsed() < Duration::from_secs(7), "hand-over took {:?}", released.elapsed());
    assert_eq!(holder(&client, &ns, "moat-leader").await.as_deref(), Some("replica-b"));
    b.release().await.expect("b releases");
    assert_eq!(holder(&client, &ns, "moat-leader").await, None);
}

#[tokio::test]
async fn lost_fires_when_someone_else_takes_the_lease() {
    let env = support::testenv::shared().await;
    let ns = env.namespace("lease-taken").await.expect("namespace");
    let client = env.client();
    let guard = leader::acquire_with(client.clone(), &ns, "moat-leader", "replica-a", FAST).await.expect("leads");
    let lost = guard.lost();

    let now = k8s_openapi::jiff::Timestamp::now();
    let patch = serde_json::json!({
        "spec": {
            "holderIdentity": "intruder",
            "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now),
            "leaseDurationSeconds": 60,
        }
    });
    Api::<Lease>::namespaced(client, &ns)
        .patch("moat-leader", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("steal the lease");

    let reason = tokio::time::timeout(Duration::from_secs(8), lost).await.expect("loss noticed within a lease");
    assert!(
        matches!(reason, LossReason::TakenBy(ref h) if h == "intruder") || reason == LossReason::ManagerReportedLoss,
        "{reason:?}"
    );
    assert!(guard.is_lost());
}

/// A loopback TCP proxy to the API server that can be cut, to make the server unreachable for
/// one client only.
struct Proxy {
    port: u16,
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, tasks }
    }

    /// Closes the listener and every proxied connection.
    fn cut(&mut self) {
        self.tasks.abort_all();
    }
}

#[tokio::test]
async fn lost_fires_when_the_api_server_is_unreachable() {
    let env = support::testenv::shared().await;
    let ns = env.namespace("lease-partition").await.expect("namespace");
    let upstream = env.server.trim_start_matches("https://").to_owned();
    let mut proxy = Proxy::start(upstream).await;

    let kubeconfig = kube::config::Kubeconfig::read_from(&env.kubeconfig).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
    config.cluster_url = format!("https://127.0.0.1:{}", proxy.port).parse().expect("url");
    let client = kube::Client::try_from(config).expect("client");

    let guard = leader::acquire_with(client, &ns, "moat-leader", "replica-a", FAST).await.expect("leads");
    let lost = guard.lost();
    // Healthy for a few renewals.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!guard.is_lost(), "lost leadership while the API server was reachable");

    proxy.cut();
    let cut = Instant::now();
    let reason = tokio::time::timeout(Duration::from_secs(8), lost)
        .await
        .expect("a partitioned leader steps down within its lease");
    assert_eq!(reason, LossReason::Expired);
    assert!(cut.elapsed() <= Duration::from_secs(FAST.duration_secs), "took {:?}", cut.elapsed());
    // It stepped down while the lease it last renewed is still valid for the others: nobody
    // could have taken over yet.
    let lease = Api::<Lease>::namespaced(env.client(), &ns).get("moat-leader").await.expect("lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    let renewed: std::time::SystemTime = spec.renew_time.expect("renewTime").0.into();
    let expiry = renewed + Duration::from_secs(u64::try_from(spec.lease_duration_seconds.expect("duration")).expect("u64"));
    assert!(std::time::SystemTime::now() < expiry, "stepped down only after the lease expired");

    // Meanwhile another replica (through the real server) can take over once the lease expires.
    let b = tokio::time::timeout(
        Duration::from_secs(10),
        leader::acquire_with(env.client(), &ns, "moat-leader", "replica-b", FAST),
    )
    .await
    .expect("b takes over after expiry")
    .expect("b leads");
    drop(guard);
    b.release().await.expect("b releases");
}
