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

/// What the controllers watch (`moat run --namespace`, `--selector`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Label selector of the objects to reconcile; `None` means all.
    pub selector: Option<String>,
}

/// Runs the SecureWorkspace, PrivateEndpointBinding and ComputeSubnet controllers until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    observer: Option<Arc<dyn Observer>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    if scope.namespaces.len() > 1 {
        // A controller's reflector store holds one watch, so several namespaces get one set of
        // controllers each (each with `concurrency`), stopped by the same shutdown.
        // Boxed, so that the recursive call is the same instantiation of `run` (a finite type).
        let shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>> = Box::pin(shutdown);
        let shutdown = futures::FutureExt::shared(shutdown);
        let sets = scope.namespaces.iter().map(|ns| {
            let one = Scope { namespaces: vec![ns.clone()], selector: scope.selector.clone() };
            Box::pin(run(ctx.clone(), one, concurrency, observer.clone(), shutdown.clone()))
        });
        futures::future::join_all(sets).await;
        return;
    }
    let client = ctx.client.clone();
    let ns = scope.namespaces.first().map(String::as_str);
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
    let wc = match &scope.selector {
        Some(selector) => wc.labels(selector),
        None => wc,
    };
    let o1 = observer.clone();
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
                async move {
                    let t = std::time::Instant::now();
                    let r = super::workspace::reconcile(obj, ctx).await;
                    o.reconciled("SecureWorkspace", r.is_ok() || r.as_ref().err().is_some_and(Error::is_waiting), t.elapsed(), r.as_ref().err());
                    r
                }
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let o2 = observer.clone();
    let endpoints = Controller::new(api::<PrivateEndpointBinding>(&client, ns), wc.clone())
        .with_config(config.clone())
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let o = o2.clone();
                async move {
                    let t = std::time::Instant::now();
                    let r = super::endpoint::reconcile(obj, ctx).await;
                    o.reconciled("PrivateEndpointBinding", r.is_ok() || r.as_ref().err().is_some_and(Error::is_waiting), t.elapsed(), r.as_ref().err());
                    r
                }
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let o3 = observer.clone();
    let subnets = Controller::new(api::<ComputeSubnet>(&client, ns), wc)
        .with_config(config)
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let o = o3.clone();
                async move {
                    let t = std::time::Instant::now();
                    let r = super::subnet::reconcile(obj, ctx).await;
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
