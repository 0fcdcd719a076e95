//! The operator runtime: everything `moat run` needs around the controllers.
//!
//! Order of a run (what [`run`] does; each step is public for custom wiring):
//!
//! 1. [`telemetry::init`] with `--log-format` and `--log-level` (done by [`run_blocking`]);
//! 2. [`RunArgs::validate`], then [`kube_client`] from `--kubeconfig` or `kube::Config::infer`;
//! 3. [`Metrics::new`], [`Health::new`], [`Shutdown::new`] + [`signals::spawn_signal_handler`];
//!    [`HealthServer::bind`] on `--metrics-addr` and serve it in a task;
//! 4. with `--leader-elect`: phase `Standby`, [`leader::acquire`] (cancelled by a signal);
//!    a lost lease fires the shutdown with [`StopReason::LeadershipLost`];
//! 5. phase `Running`, `moat_leader` 1, then the controllers until they return or the shutdown
//!    fires (they get [`RunContext::stopped`] for `Controller::graceful_shutdown_on`);
//! 6. phase `Stopping`, wait for the controllers (bounded), release the lease, stop the server.
//!
//! ```no_run
//! # async fn controllers(_ctx: moat::runtime::RunContext) -> Result<(), std::io::Error> { Ok(()) }
//! # fn demo(args: moat::runtime::RunArgs) -> std::process::ExitCode {
//! moat::runtime::run_blocking(args, |ctx| controllers(ctx))
//! # }
//! ```
//!
//! With the reconcilers of `crate::controller`, `controllers` is
//! `controller::run::run(context, ctx.args.watch_scope(), ctx.args.concurrency,
//! Some(Arc::new(ctx.metrics.clone())), ctx.stopped())`, where `context` is built from
//! `ctx.client`, `ctx.args.controller_settings()` and an ARM client recording into `ctx.metrics.arm()`.

pub mod allocator;
pub mod config;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod signals;
pub mod telemetry;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Cloud, ConfigError, CredentialKind, LogFormat, RunArgs, SecretToken};
pub use health::{Health, HealthError, HealthServer, Phase, ServerSecurity};
pub use leader::{LeaderError, LeaderGuard, LeaseTiming, LossReason};
pub use metrics::{ArmMetrics, Metrics, ReconcileResult, ReconcileTimer, arm_resource_type};
pub use signals::{Shutdown, StopReason};
pub use telemetry::TelemetryError;

/// How long the controllers get to finish in-flight reconciles after a signal. The chart's
/// `terminationGracePeriodSeconds` (30 s) leaves room for releasing the lease after it.
pub const SIGNAL_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the controllers get after leadership is lost before they are dropped mid-flight
/// (reconcilers are idempotent; the next leader redoes the work). Shorter than half the default
/// lease grace (2.5 s), the time between stepping down and the earliest take-over.
pub const LEADERSHIP_LOST_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// The kinds moat reconciles, whose metric series are created at start.
pub const KINDS: [&str; 3] = ["SecureWorkspace", "PrivateEndpointBinding", "ComputeSubnet"];

/// `moat run` could not start or ended with a failure.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Invalid flags.
    #[error("invalid flags: {0}")]
    Config(#[from] ConfigError),
    /// Logging setup.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// Reading the kubeconfig or the in-cluster config.
    #[error("cannot load Kubernetes client configuration{}: {source}", path.as_deref().map(|p| format!(" from {p}")).unwrap_or_default())]
    KubeConfig {
        /// The `--kubeconfig` path, if given.
        path: Option<String>,
        /// Cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Building the client from a valid config.
    #[error("cannot build the Kubernetes client: {0}")]
    KubeClient(#[source] kube::Error),
    /// Health server bind or serve.
    #[error(transparent)]
    Health(#[from] HealthError),
    /// Leader election setup.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// Installing signal handlers or building the tokio runtime.
    #[error("cannot set up the process runtime: {0}")]
    Process(#[source] std::io::Error),
    /// The controllers returned an error.
    #[error("controllers failed: {0}")]
    Controllers(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What the controllers get from the runtime.
#[derive(Clone)]
pub struct RunContext {
    /// Kubernetes client.
    pub client: kube::Client,
    /// The metrics registry handle; `metrics.arm()` is the ARM client's recorder.
    pub metrics: Metrics,
    /// Readiness state (already `Running` when the controllers are called).
    pub health: Health,
    /// The flags.
    pub args: Arc<RunArgs>,
    /// The process-wide stop switch.
    pub shutdown: Shutdown,
}

impl RunContext {
    /// Resolves on SIGTERM/SIGINT or leadership loss: pass it to `Controller::graceful_shutdown_on`.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        self.shutdown.stopped()
    }
}

/// Builds the Kubernetes client: `--kubeconfig` if given, else `kube::Config::infer` (KUBECONFIG,
/// `~/.kube/config`, in-cluster).
pub async fn kube_client(args: &RunArgs) -> Result<kube::Client, RuntimeError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let shown = Some(path.display().to_string());
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| RuntimeError::KubeConfig { path: shown.clone(), source: Box::new(e) })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| RuntimeError::KubeConfig { path: shown, source: Box::new(e) })?
        }
        None => kube::Config::infer().await.map_err(|e| RuntimeError::KubeConfig { path: None, source: Box::new(e) })?,
    };
    kube::Client::try_from(identified(config)).map_err(RuntimeError::KubeClient)
}

/// Names moat to the apiserver: `User-Agent: moat/<version>`, so every write moat makes without
/// an explicit field manager (status merges, finalizers) is recorded under the field manager
/// `moat` (the apiserver takes it from the user agent), never `unknown`.
pub fn identified(mut config: kube::Config) -> kube::Config {
    let agent = format!("{}/{}", crate::controller::context::MANAGER, env!("CARGO_PKG_VERSION"));
    if let Ok(value) = http::HeaderValue::from_str(&agent) {
        config.headers.retain(|(k, _)| k != http::header::USER_AGENT);
        config.headers.push((http::header::USER_AGENT, value));
    }
    config
}

/// Synchronous entry point for `main`: logging, a multi-threaded tokio runtime, [`run`], and the
/// exit code (0 after a signal, 1 after leadership loss or any failure).
pub fn run_blocking<F, Fut, E>(args: RunArgs, controllers: F) -> ExitCode
where
    F: FnOnce(RunContext) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    if let Err(e) = telemetry::init(args.log_format, args.log_level.as_deref()) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args, controllers)) {
        Ok(reason) => {
            tracing::info!(%reason, "moat stopped");
            ExitCode::from(reason.exit_code())
        }
        Err(e) => {
            tracing::error!(error = %e, "moat failed");
            ExitCode::FAILURE
        }
    }
}

/// Runs the operator around `controllers` (see the module docs for the order). Does not set up
/// logging. Returns why it stopped.
pub async fn run<F, Fut, E>(args: RunArgs, controllers: F) -> Result<StopReason, RuntimeError>
where
    F: FnOnce(RunContext) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    args.validate()?;
    let args = Arc::new(args);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        namespaces = if args.namespaces.is_empty() { "<all>".to_owned() } else { args.namespaces.join(",") },
        selector = args.selector.as_deref().unwrap_or("<none>"),
        leader_elect = args.leader_elect,
        cloud = ?args.cloud,
        arm_endpoint = %args.arm_endpoint(),
        credential = ?args.credential,
        "starting moat"
    );
    let client = kube_client(&args).await?;
    let metrics = Metrics::new();
    metrics.init_kinds(&KINDS);
    let health = Health::new();
    let shutdown = Shutdown::new();
    signals::spawn_signal_handler(shutdown.clone()).map_err(RuntimeError::Process)?;

    let security = health::ServerSecurity {
        tls: match (&args.metrics_tls_cert, &args.metrics_tls_key) {
            (Some(cert), Some(key)) => Some(health::tls_config(cert, key)?),
            _ => None,
        },
        metrics_token_file: args.metrics_token_file.clone(),
    };
    let server = HealthServer::bind_with(args.metrics_addr, health.clone(), metrics.clone(), security).await?;
    let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let result = server
                .serve(async move {
                    let _ = server_stop_rx.await;
                })
                .await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "health server failed");
                shutdown.trigger(StopReason::HealthServerFailed);
            }
            result
        })
    };

    let guard = if args.leader_elect {
        health.set_phase(Phase::Standby);
        let namespace = leader::namespace_from_env(args.leader_election_namespace.as_deref());
        let identity = leader::identity_from_env();
        tokio::select! {
            guard = leader::acquire(client.clone(), &namespace, &args.lease_name, &identity) => Some(guard?),
            reason = shutdown.wait() => {
                tracing::info!(%reason, "stopping before becoming leader");
                health.set_phase(Phase::Stopping);
                stop_server(server_stop_tx, server_task).await;
                return Ok(reason);
            }
        }
    } else {
        tracing::warn!("leader election is off: run a single replica only");
        None
    };
    if let Some(g) = &guard {
        let lost = g.lost();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let reason = lost.await;
            tracing::error!(?reason, "leadership lost: stopping controllers, the process will exit");
            shutdown.trigger(StopReason::LeadershipLost);
        });
    }

    metrics.set_leader(true);
    health.set_phase(Phase::Running);
    let ctx = RunContext {
        client,
        metrics: metrics.clone(),
        health: health.clone(),
        args: args.clone(),
        shutdown: shutdown.clone(),
    };
    let controllers = controllers(ctx);
    tokio::pin!(controllers);
    let outcome = tokio::select! {
        result = &mut controllers => Some(result),
        reason = shutdown.wait() => {
            health.set_phase(Phase::Stopping);
            let limit = match reason {
                StopReason::LeadershipLost => LEADERSHIP_LOST_DRAIN_TIMEOUT,
                _ => SIGNAL_DRAIN_TIMEOUT,
            };
            tracing::info!(%reason, timeout_secs = limit.as_secs(), "waiting for the controllers to stop");
            match tokio::time::timeout(limit, &mut controllers).await {
                Ok(result) => Some(result),
                Err(_) => {
                    tracing::warn!(timeout_secs = limit.as_secs(), "controllers did not stop in time; abandoning them");
                    None
                }
            }
        }
    };
    health.set_phase(Phase::Stopping);
    metrics.set_leader(false);
    let reason = shutdown.reason().unwrap_or(StopReason::ControllersExited);
    if let Some(g) = guard
        && !g.is_lost()
        && let Err(e) = g.release().await
    {
        tracing::warn!(error = %e, "could not release the leader lease; a standby takes over when it expires");
    }
    stop_server(server_stop_tx, server_task).await;
    match outcome {
        Some(Err(e)) => Err(RuntimeError::Controllers(Box::new(e))),
        _ => Ok(reason),
    }
}

async fn stop_server(
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), HealthError>>,
) {
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(2), task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "health server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "health server task panicked"),
        Err(_) => tracing::warn!("health server did not stop within 2 s"),
    }
}
