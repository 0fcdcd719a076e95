//! Leader election on a `coordination.k8s.io/v1` Lease, with kube-lease-manager.
//!
//! [`acquire`] waits until this replica holds the lease and returns a [`LeaderGuard`]. Its
//! [`LeaderGuard::lost`] future resolves when leadership is lost; the runtime then stops the
//! controllers and the process exits non-zero, so the Deployment restarts it as a fresh standby
//! (fail-stop, as kube-controller-manager does). On a graceful stop, [`LeaderGuard::release`]
//! clears the holder so a standby takes over without waiting for the lease to expire.
//!
//! kube-lease-manager reports a loss only once it can read the Lease again; while the API server
//! is unreachable its renew loop backs off (up to 30 s) without telling anyone. The guard
//! therefore runs its own watchdog: it re-reads the Lease after each renewal is due and declares
//! the leadership lost half a grace period before the last renewal it saw expires (our clock wrote
//! `renewTime`), when the holder changes, or when the lease manager says so. With the default
//! 15 s / 5 s timing that leaves 2.5 s between stepping down and the earliest take-over.
//!
//! Identity: `POD_NAME`, else the host name plus a random suffix. Namespace: the
//! `--leader-election-namespace` flag, `POD_NAMESPACE`, the in-cluster service-account
//! namespace file, else `default`. See [`resolve_identity`] and [`resolve_namespace`].
//!
//! RBAC: `coordination.k8s.io` `leases` get, create, update, patch in the lease namespace
//! (kube-lease-manager creates the Lease and writes it with strategic-merge and apply patches).

use std::future::Future;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the in-cluster service-account namespace is mounted.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Lease timing, in whole seconds (the unit of the Lease API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    /// `leaseDurationSeconds`: how long a renewal holds the lease.
    pub duration_secs: u64,
    /// The holder renews this long before expiry; also the clock-skew allowance.
    pub grace_secs: u64,
}

impl Default for LeaseTiming {
    /// 15 s lease renewed every ~10 s: a standby takes over within ~15 s of a crash
    /// (kube-controller-manager's defaults are 15 s / 10 s renew deadline).
    fn default() -> Self {
        Self { duration_secs: 15, grace_secs: 5 }
    }
}

/// Leader election failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Durations that kube-lease-manager would reject (it panics on them).
    #[error("invalid lease timing {0:?}: need 0 < grace < duration")]
    InvalidTiming(LeaseTiming),
    /// Creating or reading the Lease failed (RBAC, API server down).
    #[error("cannot set up lease {namespace}/{name}: {source}")]
    Setup {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// Cause.
        #[source]
        source: LeaseManagerError,
    },
    /// The lease manager task ended before this replica became leader.
    #[error("lease manager for {namespace}/{name} stopped before this replica became leader{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ManagerStopped {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The manager's error, when it returned one.
        detail: Option<String>,
    },
    /// Releasing the Lease on shutdown failed; a standby takes over once the lease expires.
    #[error("cannot release lease {namespace}/{name}: {detail}")]
    Release {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// Cause.
        detail: String,
    },
}

/// Why leadership ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// kube-lease-manager saw another holder or could not renew.
    ManagerReportedLoss,
    /// The lease manager task stopped.
    ManagerStopped,
    /// The Lease names another holder.
    TakenBy(String),
    /// The Lease has no holder any more.
    Released,
    /// No renewal was confirmed in time: stepped down half a grace period before the lease
    /// expires for the other replicas (API server unreachable, renewals failing).
    Expired,
}

/// Proof of leadership; see the module docs.
#[derive(Debug)]
pub struct LeaderGuard {
    namespace: String,
    name: String,
    identity: String,
    manager_rx: Option<watch::Receiver<bool>>,
    manager_task: Option<JoinHandle<kube_lease_manager::Result<LeaseManager>>>,
    watchdog: Option<JoinHandle<()>>,
    lost_rx: watch::Receiver<Option<LossReason>>,
}

/// Waits until this replica holds `namespace/lease_name` as `identity`, with the default
/// [`LeaseTiming`]. Cancel-safe: dropping the future stops the lease manager.
pub async fn acquire(
    client: Client,
    namespace: &str,
    lease_name: &str,
    identity: &str,
) -> Result<LeaderGuard, LeaderError> {
    acquire_with(client, namespace, lease_name, identity, LeaseTiming::default()).await
}

/// [`acquire`] with explicit timing (tests use short leases).
pub async fn acquire_with(
    client: Client,
    namespace: &str,
    lease_name: &str,
    identity: &str,
    timing: LeaseTiming,
) -> Result<LeaderGuard, LeaderError> {
    if timing.grace_secs == 0 || timing.grace_secs >= timing.duration_secs {
        return Err(LeaderError::InvalidTiming(timing));
    }
    let manager = LeaseManagerBuilder::new(client.clone(), lease_name)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(timing.duration_secs)
        .with_grace(timing.grace_secs)
        .with_field_manager(format!("moat-leader-{identity}"))
        .build()
        .await
        .map_err(|source| LeaderError::Setup { namespace: namespace.into(), name: lease_name.into(), source })?;
    let (mut rx, task) = manager.watch().await;
    tracing::info!(lease = %format!("{namespace}/{lease_name}"), %identity, "waiting for leadership");
    loop {
        if *rx.borrow_and_update() {
            break;
        }
        if rx.changed().await.is_err() {
            let detail = match task.await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            return Err(LeaderError::ManagerStopped { namespace: namespace.into(), name: lease_name.into(), detail });
        }
    }
    tracing::info!(lease = %format!("{namespace}/{lease_name}"), %identity, "acquired leadership");

    let (lost_tx, lost_rx) = watch::channel(None);
    let watchdog = Watchdog {
        api: Api::namespaced(client, namespace),
        name: lease_name.to_owned(),
        identity: identity.to_owned(),
        grace: Duration::from_secs(timing.grace_secs),
        // The lease was renewed moments ago, so it is valid for at least `grace` more; the first
        // check reads the real renewal time.
        expiry: SystemTime::now() + Duration::from_secs(timing.grace_secs),
    };
    let manager_rx = rx.clone();
    let handle = tokio::spawn(async move {
        let reason = watchdog.run(rx).await;
        tracing::warn!(?reason, "leadership lost");
        let _ = lost_tx.send(Some(reason));
    });
    Ok(LeaderGuard {
        namespace: namespace.to_owned(),
        name: lease_name.to_owned(),
        identity: identity.to_owned(),
        manager_rx: Some(manager_rx),
        manager_task: Some(task),
        watchdog: Some(handle),
        lost_rx,
    })
}

impl LeaderGuard {
    /// The identity written to `holderIdentity`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Resolves when leadership is lost (at once if it already was). `Send + Sync + 'static`, so it
    /// can go to `Controller::graceful_shutdown_on`.
    pub fn lost(&self) -> impl Future<Output = LossReason> + Send + Sync + 'static {
        let mut rx = self.lost_rx.clone();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(reason) => reason.clone().unwrap_or(LossReason::ManagerStopped),
                // The watchdog ended without a reason: it was aborted by `release`/drop.
                Err(_) => LossReason::ManagerStopped,
            }
        }
    }

    /// Whether leadership has been lost.
    pub fn is_lost(&self) -> bool {
        self.lost_rx.borrow().is_some()
    }

    /// Steps down: stops the watchdog and the lease manager, which clears `holderIdentity` if this
    /// replica still holds the lease. Waits at most 5 s.
    pub async fn release(mut self) -> Result<(), LeaderError> {
        if let Some(w) = self.watchdog.take() {
            w.abort();
            let _ = w.await;
        }
        // Dropping the last receiver makes the manager task release the lease and return.
        self.manager_rx = None;
        let Some(task) = self.manager_task.take() else { return Ok(()) };
        let err = |detail: String| LeaderError::Release {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            detail,
        };
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => {
                tracing::info!(lease = %format!("{}/{}", self.namespace, self.name), "released leadership");
                Ok(())
            }
            Ok(Ok(Err(e))) => Err(err(e.to_string())),
            Ok(Err(e)) => Err(err(e.to_string())),
            Err(_) => Err(err("timed out after 5 s".into())),
        }
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        // Without `release`, the manager still clears the lease in the background once its last
        // receiver (held by the watchdog) is gone.
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
    }
}

/// Confirms leadership independently of kube-lease-manager's renew loop.
///
/// The holder renews at `expiry - grace`. The watchdog reads the Lease shortly after, and steps
/// down at `expiry - grace / 2` unless it has seen a renewal by then: half a grace before any
/// other replica may take the lease over (as controller-runtime's renew deadline does).
struct Watchdog {
    api: Api<Lease>,
    name: String,
    identity: String,
    grace: Duration,
    /// When the last confirmed renewal expires for the other replicas.
    expiry: SystemTime,
}

impl Watchdog {
    fn step_down_at(&self) -> SystemTime {
        self.expiry.checked_sub(self.grace / 2).unwrap_or(self.expiry)
    }

    fn until(t: SystemTime) -> Duration {
        t.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
    }

    async fn run(mut self, mut manager: watch::Receiver<bool>) -> LossReason {
        loop {
            let until_step_down = Self::until(self.step_down_at());
            if until_step_down.is_zero() {
                return LossReason::Expired;
            }
            let until_renewal = Self::until(self.expiry.checked_sub(self.grace).unwrap_or(self.expiry));
            let nap = if until_renewal.is_zero() {
                (until_step_down / 2).max(Duration::from_millis(100))
            } else {
                until_renewal + self.grace / 4
            }
            .min(until_step_down);
            tokio::select! {
                changed = manager.changed() => {
                    if changed.is_err() {
                        return LossReason::ManagerStopped;
                    }
                    if !*manager.borrow_and_update() {
                        return LossReason::ManagerReportedLoss;
                    }
                }
                () = tokio::time::sleep(nap) => {
                    if let Some(reason) = self.check().await {
                        return reason;
                    }
                }
            }
        }
    }

    /// Reads the Lease; moves the expiry on a confirmed renewal, returns a loss if it sees one.
    async fn check(&mut self) -> Option<LossReason> {
        let budget = Self::until(self.step_down_at());
        let lease = match tokio::time::timeout(budget, self.api.get(&self.name)).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, lease = %self.name, "cannot read the leader lease");
                return None;
            }
            Err(_) => return None, // Timed out: the next loop turn sees the step-down time passed.
        };
        let spec = lease.spec.unwrap_or_default();
        match spec.holder_identity {
            None => Some(LossReason::Released),
            Some(holder) if holder != self.identity => Some(LossReason::TakenBy(holder)),
            Some(_) => {
                if let (Some(renew), Some(secs)) = (spec.renew_time, spec.lease_duration_seconds) {
                    let secs = u64::try_from(secs).unwrap_or(0);
                    let renewed: SystemTime = renew.0.into();
                    self.expiry = self.expiry.max(renewed + Duration::from_secs(secs));
                }
                None
            }
        }
    }
}

/// The lease holder identity: `pod_name` if set, else `hostname-<suffix>` (the suffix keeps two
/// local runs on one host apart), else `moat-<suffix>`.
pub fn resolve_identity(pod_name: Option<&str>, hostname: Option<&str>, suffix: &str) -> String {
    let clean = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(pod) = clean(pod_name) {
        return pod;
    }
    match clean(hostname) {
        Some(host) => format!("{host}-{suffix}"),
        None => format!("moat-{suffix}"),
    }
}

/// The lease namespace: the first non-blank of `flag`, `pod_namespace` and the service-account
/// namespace file's content, else `default`.
pub fn resolve_namespace(flag: Option<&str>, pod_namespace: Option<&str>, service_account_file: Option<&str>) -> String {
    [flag, pod_namespace, service_account_file]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("default")
        .to_owned()
}

/// [`resolve_identity`] from the environment: `POD_NAME`, then `HOSTNAME` / `/etc/hostname`.
pub fn identity_from_env() -> String {
    let pod = std::env::var("POD_NAME").ok();
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok());
    resolve_identity(pod.as_deref(), host.as_deref(), &random_suffix())
}

/// [`resolve_namespace`] from `flag`, `POD_NAMESPACE` and [`SERVICE_ACCOUNT_NAMESPACE_FILE`].
pub fn namespace_from_env(flag: Option<&str>) -> String {
    let pod_ns = std::env::var("POD_NAMESPACE").ok();
    let file = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE_FILE).ok();
    resolve_namespace(flag, pod_ns.as_deref(), file.as_deref())
}

/// Eight random lower-case alphanumerics.
fn random_suffix() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(8)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_prefers_pod_name() {
        assert_eq!(resolve_identity(Some("moat-7d9f-abcde"), Some("node1"), "x1"), "moat-7d9f-abcde");
        assert_eq!(resolve_identity(Some("  "), Some("laptop\n"), "x1"), "laptop-x1");
        assert_eq!(resolve_identity(None, None, "x1"), "moat-x1");
    }

    #[test]
    fn namespace_precedence_flag_env_file_default() {
        assert_eq!(resolve_namespace(Some("ops"), Some("moat-system"), Some("sa-ns")), "ops");
        assert_eq!(resolve_namespace(None, Some("moat-system"), Some("sa-ns")), "moat-system");
        assert_eq!(resolve_namespace(None, Some(""), Some("sa-ns\n")), "sa-ns");
        assert_eq!(resolve_namespace(None, None, None), "default");
        assert_eq!(resolve_namespace(Some(" "), None, Some("")), "default");
    }

    #[test]
    fn random_suffixes_differ_and_are_label_safe() {
        let (a, b) = (random_suffix(), random_suffix());
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn env_identity_is_never_blank() {
        assert!(!identity_from_env().trim().is_empty());
    }

    #[test]
    fn default_timing_is_valid() {
        let t = LeaseTiming::default();
        assert!(t.grace_secs > 0 && t.grace_secs < t.duration_secs);
    }
}
