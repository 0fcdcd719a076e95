//! Runs the three controllers until shutdown.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use tokio::sync::Semaphore;

use super::context::Context;
use super::error::Error;
use crate::api::{ComputeSubnet, FindingStatus, PrivateEndpointBinding, SecureWorkspace};

/// Hooks the controllers call around each reconcile (metrics in `moat run`).
pub trait Observer: Send + Sync + 'static {
    fn reconciled(&self, kind: &str, ok: bool, duration: std::time::Duration, error: Option<&Error>);
    /// A reconcile of `kind` started waiting for a worker (+1) or stopped waiting (-1).
    fn queued(&self, _kind: &str, _delta: i64) {}
    /// A reconcile of `kind` started running (+1) or ended (-1).
    fn in_flight(&self, _kind: &str, _delta: i64) {}
    /// The constraint findings the object `object` (`namespace/name`) of `kind` has now; an
    /// empty list once it is clean or being deleted. Call it whenever a reconcile computes the
    /// findings ([`report_findings`] does it from a status).
    fn findings(&self, _kind: &str, _object: &str, _findings: &[FindingStatus]) {}
}

/// Tells `observer` the findings `obj` reports in its status: none once it is being deleted
/// (the finalizer's last reconcile is its last report). The controllers call it at the start of
/// every reconcile, so the gauge follows each status write (which triggers a reconcile).
pub fn report_findings<K: ResourceExt>(observer: &dyn Observer, kind: &str, obj: &K, findings: Option<&[FindingStatus]>) {
    let object = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let findings = if obj.meta().deletion_timestamp.is_some() { &[][..] } else { findings.unwrap_or_default() };
    observer.findings(kind, &object, findings);
}

/// Counts one reconcile in the queue gauge until it gets a worker, then in the in-flight gauge
/// until it ends (also when the future is dropped at shutdown).
struct Slot<'a> {
    observer: &'a dyn Observer,
    kind: &'static str,
    running: bool,
}

impl<'a> Slot<'a> {
    fn queued(observer: &'a dyn Observer, kind: &'static str) -> Self {
        observer.queued(kind, 1);
        Self { observer, kind, running: false }
    }

    fn start(&mut self) {
        self.observer.queued(self.kind, -1);
        self.observer.in_flight(self.kind, 1);
        self.running = true;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.running {
            self.observer.in_flight(self.kind, -1);
        } else {
            self.observer.queued(self.kind, -1);
        }
    }
}

/// Runs one reconcile under the controller's worker limit, with the observer's hooks around it.
async fn observed<F>(kind: &'static str, observer: Arc<dyn Observer>, workers: Arc<Semaphore>, reconcile: F) -> Result<Action, Error>
where
    F: Future<Output = Result<Action, Error>>,
{
    let mut slot = Slot::queued(observer.as_ref(), kind);
    // The semaphore is never closed; a closed one would only lift the limit.
    let _permit = workers.acquire().await.ok();
    slot.start();
    let t = std::time::Instant::now();
    let r = reconcile.await;
    observer.reconciled(kind, r.is_ok() || r.as_ref().err().is_some_and(Error::is_waiting), t.elapsed(), r.as_ref().err());
    r
}

struct NoObserver;
impl Observer for NoObserver {
    fn reconciled(&self, _: &str, _: bool, _: std::time::Duration, _: Option<&Error>) {}
}

fn error_policy<K: ResourceExt>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    if err.is_waiting() {
        tracing::debug!(name = %obj.name_any(), %err, "waiting");
        return Action::requeue(ctx.settings.retry.min(std::time::Duration::from_secs(5)));
    }
    tracing::warn!(name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default(), error = %err, "reconcile failed");
    Action::requeue(ctx.settings.retry)
}

/// Which namespace the controllers watch (None: all).
fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the SecureWorkspace, PrivateEndpointBinding and ComputeSubnet controllers until
/// `shutdown` resolves. Each runs at most `concurrency` reconciles at once; the reconciles due
/// beyond that wait (`Observer::queued`).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    observer: Option<Arc<dyn Observer>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    let observer: Arc<dyn Observer> = observer.unwrap_or_else(|| Arc::new(NoObserver));
    // kube-runtime runs every due object at once (still one reconcile per object); the limit is
    // a semaphore per controller, so that the reconciles waiting for a worker can be counted.
    let config = ControllerConfig::default();
    let workers = || Arc::new(Semaphore::new(usize::from(concurrency.max(1))));
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopper = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopper.send(());
    });
    let stop = move || {
        let mut rx = stop_tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };

    let wc = watcher::Config::default().any_semantic();
    let (o1, w1) = (observer.clone(), workers());
    let workspaces = Controller::new(api::<SecureWorkspace>(&client, ns), wc.clone())
        .owns(api::<PrivateEndpointBinding>(&client, ns), wc.clone())
        .watches(api::<ComputeSubnet>(&client, ns), wc.clone(), |cs| {
            cs.namespace().map(|n| ObjectRef::<SecureWorkspace>::new(&cs.spec.workspace_ref.name).within(&n))
        })
        .with_config(config.clone())
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                report_findings(o1.as_ref(), "SecureWorkspace", obj.as_ref(), obj.status.as_ref().map(|s| s.findings.as_slice()));
                observed("SecureWorkspace", o1.clone(), w1.clone(), super::workspace::reconcile(obj, ctx))
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let (o2, w2) = (observer.clone(), workers());
    let endpoints = Controller::new(api::<PrivateEndpointBinding>(&client, ns), wc.clone())
        .with_config(config.clone())
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| observed("PrivateEndpointBinding", o2.clone(), w2.clone(), super::endpoint::reconcile(obj, ctx)),
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let (o3, w3) = (observer.clone(), workers());
    let subnets = Controller::new(api::<ComputeSubnet>(&client, ns), wc)
        .with_config(config)
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                report_findings(o3.as_ref(), "ComputeSubnet", obj.as_ref(), obj.status.as_ref().map(|s| s.findings.as_slice()));
                observed("ComputeSubnet", o3.clone(), w3.clone(), super::subnet::reconcile(obj, ctx))
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    tokio::join!(workspaces, endpoints, subnets);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Gauges(Mutex<(i64, i64, u32)>);
    impl Observer for Gauges {
        fn reconciled(&self, _: &str, _: bool, _: std::time::Duration, _: Option<&Error>) {
            self.0.lock().expect("lock").2 += 1;
        }
        fn queued(&self, _: &str, d: i64) {
            self.0.lock().expect("lock").0 += d;
        }
        fn in_flight(&self, _: &str, d: i64) {
            self.0.lock().expect("lock").1 += d;
        }
    }

    #[tokio::test]
    async fn reconciles_beyond_the_worker_limit_wait_in_the_queue() {
        let gauges = Arc::new(Gauges::default());
        let observer: Arc<dyn Observer> = gauges.clone();
        let workers = Arc::new(Semaphore::new(1));
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let first = tokio::spawn(observed("ComputeSubnet", observer.clone(), workers.clone(), async move {
            let _ = hold.await;
            Ok(Action::await_change())
        }));
        while gauges.0.lock().expect("lock").1 == 0 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn(observed("ComputeSubnet", observer.clone(), workers.clone(), async { Ok(Action::await_change()) }));
        while gauges.0.lock().expect("lock").0 == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*gauges.0.lock().expect("lock"), (1, 1, 0), "one waits, one runs");
        let _ = release.send(());
        assert!(first.await.expect("join").is_ok());
        assert!(second.await.expect("join").is_ok());
        assert_eq!(*gauges.0.lock().expect("lock"), (0, 0, 2), "both ran and left both gauges");
        // A reconcile dropped while it waits (shutdown) leaves the queue too.
        let _held = workers.acquire().await.expect("permit");
        let waiting = tokio::spawn(observed("ComputeSubnet", observer.clone(), workers.clone(), async { Ok(Action::await_change()) }));
        while gauges.0.lock().expect("lock").0 == 0 {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(*gauges.0.lock().expect("lock"), (0, 0, 2));
    }
}
