//! Runs the three controllers until shutdown.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::context::Context;
use super::error::Error;
use crate::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use crate::azure::pacing::{Priority, with_priority};

/// At most this share of a controller's concurrent reconciles (at least one) may be steady-state
/// ones: those wait for ARM's read budget behind converging work (`crate::azure::pacing`), and
/// must not fill every slot while they wait. A steady-state reconcile without a free slot is
/// deferred to the next retry; it reads nothing meanwhile.
const STEADY_SLOT_SHARE: usize = 8;

#[derive(Clone)]
struct SteadySlots(Arc<tokio::sync::Semaphore>);

impl SteadySlots {
    fn new(concurrency: u16) -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new((concurrency as usize / STEADY_SLOT_SHARE).max(1))))
    }

    /// `Some(permit)` to run a reconcile at priority `p` (no permit needed unless steady);
    /// `None`: defer it.
    fn slot(&self, p: Priority) -> Option<Option<tokio::sync::OwnedSemaphorePermit>> {
        match p {
            Priority::Steady => self.0.clone().try_acquire_owned().ok().map(Some),
            _ => Some(None),
        }
    }
}

fn deferred(kind: &str, name: &str, ctx: &Context) -> Result<Action, Error> {
    tracing::debug!(kind, name, "steady-state reconcile deferred: every steady-state slot is busy");
    Ok(Action::requeue(ctx.settings.retry))
}

/// The ARM read priority of a reconcile: an object Ready for its current generation (and not
/// being deleted) is at steady state, and its reads leave ARM's read budget to converging work.
fn read_priority(conditions: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>, meta: &kube::api::ObjectMeta) -> Priority {
    let ready = conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == super::conditions::READY && c.status == "True" && c.observed_generation == meta.generation));
    if ready && meta.deletion_timestamp.is_none() { Priority::Steady } else { Priority::Converge }
}

/// Hooks the controllers call after each reconcile (metrics in `moat run`).
pub trait Observer: Send + Sync + 'static {
    fn reconciled(&self, kind: &str, ok: bool, duration: std::time::Duration, error: Option<&Error>);
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
/// `shutdown` resolves.
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
    let config = ControllerConfig::default().concurrency(concurrency);
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
    let o1 = observer.clone();
    let s1 = SteadySlots::new(concurrency);
    let workspaces = Controller::new(api::<SecureWorkspace>(&client, ns), wc.clone())
        .owns(api::<PrivateEndpointBinding>(&client, ns), wc.clone())
        .watches(api::<ComputeSubnet>(&client, ns), wc.clone(), |cs| {
            cs.namespace().map(|n| ObjectRef::<SecureWorkspace>::new(&cs.spec.workspace_ref.name).within(&n))
        })
        .with_config(config.clone())
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let o = o1.clone();
                let slots = s1.clone();
                async move {
                    let t = std::time::Instant::now();
                    let p = read_priority(obj.status.as_ref().map(|s| s.conditions.as_slice()), &obj.metadata);
                    let Some(_slot) = slots.slot(p) else { return deferred("SecureWorkspace", &obj.name_any(), &ctx) };
                    let r = with_priority(p, super::workspace::reconcile(obj, ctx)).await;
                    o.reconciled("SecureWorkspace", r.is_ok() || r.as_ref().err().is_some_and(Error::is_waiting), t.elapsed(), r.as_ref().err());
                    r
                }
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let o2 = observer.clone();
    let s2 = SteadySlots::new(concurrency);
    let endpoints = Controller::new(api::<PrivateEndpointBinding>(&client, ns), wc.clone())
        .with_config(config.clone())
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let o = o2.clone();
                let slots = s2.clone();
                async move {
                    let t = std::time::Instant::now();
                    let p = read_priority(obj.status.as_ref().map(|s| s.conditions.as_slice()), &obj.metadata);
                    let Some(_slot) = slots.slot(p) else { return deferred("PrivateEndpointBinding", &obj.name_any(), &ctx) };
                    let r = with_priority(p, super::endpoint::reconcile(obj, ctx)).await;
                    o.reconciled("PrivateEndpointBinding", r.is_ok() || r.as_ref().err().is_some_and(Error::is_waiting), t.elapsed(), r.as_ref().err());
                    r
                }
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let o3 = observer.clone();
    let s3 = SteadySlots::new(concurrency);
    let subnets = Controller::new(api::<ComputeSubnet>(&client, ns), wc)
        .with_config(config)
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let o = o3.clone();
                let slots = s3.clone();
                async move {
                    let t = std::time::Instant::now();
                    let p = read_priority(obj.status.as_ref().map(|s| s.conditions.as_slice()), &obj.metadata);
                    let Some(_slot) = slots.slot(p) else { return deferred("ComputeSubnet", &obj.name_any(), &ctx) };
                    let r = with_priority(p, super::subnet::reconcile(obj, ctx)).await;
                    o.reconciled("ComputeSubnet", r.is_ok() || r.as_ref().err().is_some_and(Error::is_waiting), t.elapsed(), r.as_ref().err());
                    r
                }
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    tokio::join!(workspaces, endpoints, subnets);
}
