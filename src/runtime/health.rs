//! The health and metrics HTTP server: `/healthz`, `/readyz`, `/metrics`.
//!
//! * `/healthz` (liveness) answers 200 while the process serves HTTP. A deadlocked runtime stops
//!   answering and the kubelet restarts the pod; a lost lease is not a liveness failure, the
//!   process exits by itself.
//! * `/readyz` (readiness) follows the [`Phase`]: 503 while `Starting` (no client, no lease
//!   manager yet) and `Stopping`; 200 in `Standby` (leader election on, waiting for the lease,
//!   everything else healthy) and `Running` (controllers started).
//!
//!   **Choice: a healthy standby is Ready.** Tying readiness to leadership would keep a new
//!   replica unready until the old leader exits, which stalls a rolling update of a Deployment
//!   with `maxUnavailable: 0` (the old pod is only removed once the new one is Ready) and makes
//!   every standby replica look broken. Nothing routes work to moat through its Service, so
//!   readiness only gates rollouts; `moat_leader` tells who leads.
//! * `/metrics`: Prometheus text 0.0.4, or OpenMetrics when the scraper asks for it in `Accept`.
//!
//! Plain HTTP by default. With [`ServerSecurity::tls`] (`--metrics-tls-cert`/`--metrics-tls-key`)
//! every path is served over HTTPS only; with [`ServerSecurity::metrics_token_file`]
//! (`--metrics-token-file`) `/metrics` answers 401 unless the request carries
//! `Authorization: Bearer <the file's content>` (Prometheus' `authorization.credentials_file`).
//! The token file is read at each scrape, so a rotated Secret takes effect without a restart;
//! the probes stay unauthenticated (the kubelet sends no token).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};

/// Lifecycle phase of the operator, as `/readyz` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Building the client, binding the server, creating the lease manager: not ready.
    Starting = 0,
    /// Leader election on and another replica leads; this one is healthy and waiting: ready.
    Standby = 1,
    /// Controllers started (leading, or leader election off): ready.
    Running = 2,
    /// Shutting down: not ready.
    Stopping = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Phase::Standby,
            2 => Phase::Running,
            3 => Phase::Stopping,
            _ => Phase::Starting,
        }
    }

    /// The label `/readyz` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Standby => "standby",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
        }
    }

    /// Whether `/readyz` answers 200 in this phase.
    pub fn is_ready(self) -> bool {
        matches!(self, Phase::Standby | Phase::Running)
    }
}

/// Shared readiness state: a cheap clonable handle.
#[derive(Clone, Debug)]
pub struct Health {
    phase: Arc<AtomicU8>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Starts in [`Phase::Starting`].
    pub fn new() -> Self {
        Self { phase: Arc::new(AtomicU8::new(Phase::Starting as u8)) }
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }
}

/// The server could not start or failed while serving.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// Binding the listen address failed (in use, no permission).
    #[error("cannot listen on {addr} for /healthz, /readyz and /metrics: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("health server on {addr} failed: {source}")]
    Serve {
        /// The bound address.
        addr: SocketAddr,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket has no local address.
    #[error("cannot read the bound address of the health server: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error("metrics TLS: {what} {path}: {message}")]
    Tls {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// HTTPS and authentication of the server (both off by default).
#[derive(Clone, Default)]
pub struct ServerSecurity {
    /// Serve HTTPS with this configuration (see [`tls_config`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Require `Authorization: Bearer <token>` on `/metrics`, the token read from this file at
    /// each request.
    pub metrics_token_file: Option<PathBuf>,
}

impl std::fmt::Debug for ServerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSecurity").field("tls", &self.tls.is_some()).field("metrics_token_file", &self.metrics_token_file).finish()
    }
}

/// A TLS server configuration from a PEM certificate chain and its PEM private key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, HealthError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &'static str, path: &Path, message: String| HealthError::Tls { what, path: path.display().to_string(), message };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad("certificate", cert, "no PEM CERTIFICATE block in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("certificate", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| bad("key", key, format!("does not fit the certificate: {e}")))?;
    Ok(Arc::new(config))
}

#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: Metrics,
    token_file: Option<Arc<PathBuf>>,
}

/// The router alone (for tests or embedding in another server), without authentication.
pub fn router(health: Health, metrics: Metrics) -> Router {
    router_with(health, metrics, None)
}

fn router_with(health: Health, metrics: Metrics, token_file: Option<PathBuf>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { health, metrics, token_file: token_file.map(Arc::new) })
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `None` when the request may read `/metrics`, else the answer.
async fn refuse_unauthorized(token_file: &Path, headers: &HeaderMap) -> Option<Response> {
    let expected = match tokio::fs::read_to_string(token_file).await {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        Ok(_) | Err(_) => {
            tracing::error!(path = %token_file.display(), "cannot read the metrics token file, or it is empty: refusing /metrics");
            return Some((StatusCode::INTERNAL_SERVER_ERROR, "metrics token unavailable\n").into_response());
        }
    };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    match given {
        Some(t) if same_secret(t.as_bytes(), expected.as_bytes()) => None,
        _ => Some((StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a bearer token is required for /metrics\n").into_response()),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let phase = state.health.phase();
    let status = if phase.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, format!("{}\n", phase.as_str())).into_response()
}

async fn metrics_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(file) = &state.token_file
        && let Some(refused) = refuse_unauthorized(file, &headers).await
    {
        return refused;
    }
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let (body, content_type) = if wants_openmetrics {
        (state.metrics.encode_openmetrics(), OPENMETRICS_CONTENT_TYPE)
    } else {
        (state.metrics.encode_prometheus(), PROMETHEUS_CONTENT_TYPE)
    };
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response()
        }
    }
}

/// A bound, not yet serving, health server. Bind first so that a port clash fails `moat run`
/// before any leader election, and so tests can bind port 0 and read [`HealthServer::local_addr`].
pub struct HealthServer {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for HealthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthServer").field("addr", &self.addr).field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

/// How long a client gets to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl HealthServer {
    /// Binds `addr` for plain HTTP without authentication.
    pub async fn bind(addr: SocketAddr, health: Health, metrics: Metrics) -> Result<Self, HealthError> {
        Self::bind_with(addr, health, metrics, ServerSecurity::default()).await
    }

    /// Binds `addr`, with HTTPS and `/metrics` authentication as `security` says.
    pub async fn bind_with(addr: SocketAddr, health: Health, metrics: Metrics, security: ServerSecurity) -> Result<Self, HealthError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| HealthError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(HealthError::LocalAddr)?;
        Ok(Self { listener, addr, router: router_with(health, metrics, security.metrics_token_file), tls: security.tls })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), HealthError> {
        let addr = self.addr;
        match self.tls {
            None => {
                tracing::info!(%addr, "serving /healthz, /readyz and /metrics over HTTP");
                axum::serve(self.listener, self.router)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(|source| HealthError::Serve { addr, source })
            }
            Some(tls) => {
                tracing::info!(%addr, "serving /healthz, /readyz and /metrics over HTTPS");
                serve_tls(self.listener, self.router, tls, shutdown).await;
                Ok(())
            }
        }
    }
}

/// The HTTPS accept loop: a TLS handshake, then HTTP/1.1 on the stream, per connection; on
/// `shutdown` no new connection is taken and open ones get 2 s to finish.
async fn serve_tls(listener: TcpListener, router: Router, tls: Arc<rustls::ServerConfig>, shutdown: impl Future<Output = ()>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await.is_err() {
        tracing::debug!("metrics connections still open after 2 s; dropping them");
    }
}
