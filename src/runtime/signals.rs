//! Shutdown: a broadcast "stop" that signals, leadership loss and the runtime itself can trigger.
//!
//! [`Shutdown`] is a clonable handle; [`Shutdown::wait`] gives a `Send + Sync + 'static` future
//! (what `kube::runtime::Controller::graceful_shutdown_on` wants) that resolves with the first
//! [`StopReason`]. [`spawn_signal_handler`] turns the first SIGTERM/SIGINT into a graceful stop
//! and the second into an immediate exit.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

/// Why the operator stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM or SIGINT.
    Signal(&'static str),
    /// The leader lease was lost: stop reconciling and exit so the Deployment restarts the pod.
    LeadershipLost,
    /// The controllers returned on their own.
    ControllersExited,
    /// The health/metrics server failed.
    HealthServerFailed,
}

impl StopReason {
    /// Process exit code: 0 for a requested stop, 1 for anything the kubelet should count as a restart.
    pub fn exit_code(self) -> u8 {
        match self {
            StopReason::Signal(_) => 0,
            StopReason::LeadershipLost | StopReason::ControllersExited | StopReason::HealthServerFailed => 1,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Signal(name) => write!(f, "received {name}"),
            StopReason::LeadershipLost => f.write_str("leadership lost"),
            StopReason::ControllersExited => f.write_str("controllers exited"),
            StopReason::HealthServerFailed => f.write_str("health server failed"),
        }
    }
}

/// A one-shot, first-reason-wins stop switch shared by every task of the process.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<Option<StopReason>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A switch that has not fired.
    pub fn new() -> Self {
        Self { tx: Arc::new(watch::Sender::new(None)) }
    }

    /// Fires the switch; later calls keep the first reason. Returns whether this call fired it.
    pub fn trigger(&self, reason: StopReason) -> bool {
        self.tx.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        })
    }

    /// The reason, once fired.
    pub fn reason(&self) -> Option<StopReason> {
        *self.tx.borrow()
    }

    /// Resolves with the reason once the switch fires (at once if it already has).
    pub fn wait(&self) -> impl Future<Output = StopReason> + Send + Sync + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            loop {
                if let Some(reason) = *rx.borrow_and_update() {
                    return reason;
                }
                if rx.changed().await.is_err() {
                    // Every handle is gone, so nothing can fire any more.
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// [`Shutdown::wait`] without the reason, for APIs that take `Future<Output = ()>`.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let wait = self.wait();
        async move {
            wait.await;
        }
    }
}

/// Spawns the task that turns SIGTERM/SIGINT into [`Shutdown::trigger`]. A second signal exits
/// the process at once with code 130.
///
/// Fails if the signal handlers cannot be installed.
pub fn spawn_signal_handler(shutdown: Shutdown) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        let mut received = 0u32;
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            received += 1;
            if received == 1 {
                tracing::info!(signal = name, "shutting down gracefully; send it again to exit at once");
                shutdown.trigger(StopReason::Signal(name));
            } else {
                tracing::warn!(signal = name, "second signal: exiting now");
                std::process::exit(130);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn assert_controller_compatible<F: Future<Output = ()> + Send + Sync + 'static>(_: F) {}

    #[tokio::test]
    async fn first_reason_wins_and_late_waiters_see_it() {
        let s = Shutdown::new();
        let early = tokio::spawn(s.wait());
        assert!(s.reason().is_none());
        assert!(s.trigger(StopReason::LeadershipLost));
        assert!(!s.trigger(StopReason::Signal("SIGTERM")));
        let got = tokio::time::timeout(Duration::from_secs(1), early).await.expect("no timeout").expect("join");
        assert_eq!(got, StopReason::LeadershipLost);
        assert_eq!(s.wait().await, StopReason::LeadershipLost);
        assert_controller_compatible(s.stopped());
        assert_eq!(StopReason::LeadershipLost.exit_code(), 1);
        assert_eq!(StopReason::Signal("SIGTERM").exit_code(), 0);
    }
}
