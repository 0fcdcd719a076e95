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

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

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
}

#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: Metrics,
}

/// The router alone (for tests or embedding in another server).
pub fn router(health: Health, metrics: Metrics) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { health, metrics })
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
#[derive(Debug)]
pub struct HealthServer {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
}

impl HealthServer {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, health: Health, metrics: Metrics) -> Result<Self, HealthError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| HealthError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(HealthError::LocalAddr)?;
        Ok(Self { listener, addr, router: router(health, metrics) })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), HealthError> {
        let addr = self.addr;
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| HealthError::Serve { addr, source })
    }
}
