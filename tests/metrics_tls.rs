//! The health and metrics server over HTTPS with a bearer token on `/metrics`
//! (`--metrics-tls-cert`, `--metrics-tls-key`, `--metrics-token-file`), with the test CA and
//! server certificate of `tests/fixtures/tls/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use moat::runtime::health::tls_config;
use moat::runtime::{Health, HealthError, HealthServer, Metrics, Phase, ServerSecurity, Shutdown, StopReason};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

fn trusting_client() -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(fixture("ca.pem")).expect("ca.pem")).expect("CA");
    reqwest::Client::builder().tls_certs_only([ca]).build().expect("client")
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> u16 {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request").status().as_u16()
}

#[tokio::test]
async fn https_with_a_rotating_bearer_token_on_metrics_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-1\n").expect("token");
    let security = ServerSecurity { tls: Some(tls_config(&fixture("server.pem"), &fixture("server.key")).expect("TLS config")), metrics_token_file: Some(token.clone()) };
    let health = Health::new();
    health.set_phase(Phase::Running);
    let metrics = Metrics::new();
    metrics.set_leader(true);
    let server = HealthServer::bind_with("127.0.0.1:0".parse().expect("addr"), health, metrics, security).await.expect("bind");
    let port = server.local_addr().port();
    let stop = Shutdown::new();
    let stopped = stop.stopped();
    let task = tokio::spawn(async move { server.serve(stopped).await });

    let client = trusting_client();
    let base = format!("https://localhost:{port}");
    // Probes need no token.
    assert_eq!(get(&client, &format!("{base}/healthz"), None).await, 200);
    assert_eq!(get(&client, &format!("{base}/readyz"), None).await, 200);
    // /metrics needs the token of the file.
    assert_eq!(get(&client, &format!("{base}/metrics"), None).await, 401);
    assert_eq!(get(&client, &format!("{base}/metrics"), Some("wrong")).await, 401);
    let body = client.get(format!("{base}/metrics")).bearer_auth("s3cret-1").send().await.expect("scrape");
    assert_eq!(body.status().as_u16(), 200);
    assert!(body.text().await.expect("body").contains("moat_leader 1"));
    // A rotated token takes effect at the next scrape.
    std::fs::write(&token, "s3cret-2").expect("rotate");
    assert_eq!(get(&client, &format!("{base}/metrics"), Some("s3cret-1")).await, 401);
    assert_eq!(get(&client, &format!("{base}/metrics"), Some("s3cret-2")).await, 200);
    // An unreadable token file refuses every scrape rather than opening /metrics.
    std::fs::remove_file(&token).expect("remove");
    assert_eq!(get(&client, &format!("{base}/metrics"), Some("s3cret-2")).await, 500);

    // Only HTTPS: plain HTTP gets no answer, and a client that does not trust the CA fails.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).timeout(Duration::from_secs(5)).send().await;
    assert!(plain.map(|r| r.status().as_u16()).unwrap_or(0) != 200, "plain HTTP must not be served");
    let untrusting = reqwest::Client::builder().tls_certs_only([]).build().expect("client");
    assert!(untrusting.get(format!("{base}/healthz")).send().await.is_err(), "the server's certificate is checked");

    stop.trigger(StopReason::Signal("TEST"));
    let ended = tokio::time::timeout(Duration::from_secs(5), task).await.expect("server stops on shutdown").expect("join");
    assert!(ended.is_ok());
}

#[test]
fn unusable_certificates_are_named_in_the_error() {
    let missing = fixture("absent.pem");
    match tls_config(&missing, &fixture("server.key")) {
        Err(HealthError::Tls { what: "certificate", path, .. }) => assert!(path.ends_with("absent.pem")),
        other => panic!("{other:?}"),
    }
    // The CA's certificate with the server's key: they do not belong together.
    let err = tls_config(&fixture("ca.pem"), &fixture("server.key")).expect_err("mismatch");
    assert!(err.to_string().contains("key") && err.to_string().contains("server.key"), "{err}");
    // A key file that holds a certificate.
    let err = tls_config(&fixture("server.pem"), &fixture("ca.pem")).expect_err("not a key");
    assert!(err.to_string().contains("ca.pem"), "{err}");
}

#[test]
fn a_token_without_tls_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["run", "--credential", "static", "--arm-token", "t", "--metrics-token-file", "/tmp/token"])
        .output()
        .expect("run moat");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics-token-file needs --metrics-tls-cert"), "{}", String::from_utf8_lossy(&out.stderr));
}
