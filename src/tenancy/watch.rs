//! The `AzureScopePolicy` objects and the namespaces' labels, kept in reflector stores: the
//! reconcilers read them at every reconcile, and a change to a policy or to a namespace's labels
//! re-evaluates every object (`Controller::reconcile_all_on`). Each policy's
//! `status.namespaces` shows which namespaces it selects now.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Resource, ResourceExt};

use super::grant::selects;
use crate::api::{AzureScopePolicy, AzureScopePolicyStatus};

/// What the policy check needs about one namespace.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// The namespace's labels.
    pub labels: BTreeMap<String, String>,
    /// Every AzureScopePolicy (the check keeps those that select the namespace).
    pub policies: Vec<Arc<AzureScopePolicy>>,
}

/// Why the policies cannot be read yet.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("moat has not finished reading the AzureScopePolicy objects yet (is the CRD installed, and may moat list and watch azurescopepolicies.moat.dev and namespaces?)")]
    NotReady,
    #[error("cannot read namespace {namespace}: {source}")]
    Namespace {
        namespace: String,
        #[source]
        source: kube::Error,
    },
}

/// Where the reconcilers get the policies from.
#[async_trait]
pub trait PolicySource: Send + Sync {
    /// The namespace's labels and the policies, as known now.
    async fn view(&self, namespace: &str) -> Result<View, PolicyError>;
    /// Yields whenever a policy, or the labels of a namespace, change.
    fn changes(&self) -> BoxStream<'static, ()>;
}

/// No policies at all: every namespace is refused. The default of a `Context` that was not
/// given a [`WatchedPolicies`].
pub struct NoPolicies;

#[async_trait]
impl PolicySource for NoPolicies {
    async fn view(&self, _: &str) -> Result<View, PolicyError> {
        Ok(View::default())
    }
    fn changes(&self) -> BoxStream<'static, ()> {
        futures::stream::pending().boxed()
    }
}

/// How long a reconcile waits for the first list of policies and namespaces.
const READY_WAIT: Duration = Duration::from_secs(30);

/// Policies and namespaces from the apiserver, watched.
pub struct WatchedPolicies {
    client: kube::Client,
    policies: Store<AzureScopePolicy>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl WatchedPolicies {
    /// Starts watching (in background tasks that end with the process) and keeps each
    /// policy's `status.namespaces` current.
    pub fn start(client: kube::Client) -> Arc<Self> {
        let (policies, pw) = reflector::store::<AzureScopePolicy>();
        let (namespaces, nw) = reflector::store::<PartialObjectMeta<Namespace>>();
        let (changed, _) = tokio::sync::watch::channel(0u64);
        let this = Arc::new(Self { client: client.clone(), policies, namespaces, changed });

        let policy_events = watcher(Api::<AzureScopePolicy>::all(client.clone()), pw);
        let me = this.clone();
        tokio::spawn(async move {
            // Only a policy's spec (its generation) decides anything: moat's own writes of
            // `status.namespaces` must not re-evaluate every object.
            let mut seen: HashMap<String, Option<i64>> = HashMap::new();
            policy_events
                .for_each(|e| {
                    let changed = match &e {
                        Event::Apply(p) | Event::InitApply(p) => {
                            let before = seen.insert(p.name_any(), p.metadata.generation);
                            matches!(e, Event::Apply(_)) && before != Some(p.metadata.generation)
                        }
                        Event::Delete(p) => seen.remove(&p.name_any()).is_some(),
                        Event::InitDone => true,
                        Event::Init => false,
                    };
                    let me = me.clone();
                    async move {
                        if changed {
                            me.bump("AzureScopePolicy");
                        }
                    }
                })
                .await;
        });

        let ns_events = watcher(Api::<PartialObjectMeta<Namespace>>::all(client), nw);
        let me = this.clone();
        tokio::spawn(async move {
            // Only label changes matter; other namespace updates do not re-evaluate anything.
            let mut seen: HashMap<String, BTreeMap<String, String>> = HashMap::new();
            ns_events
                .for_each(|e| {
                    let changed = match &e {
                        Event::Apply(ns) | Event::InitApply(ns) => {
                            let labels = ns.labels().clone();
                            let before = seen.insert(ns.name_any(), labels.clone());
                            matches!(e, Event::Apply(_)) && before.as_ref() != Some(&labels)
                        }
                        Event::Delete(ns) => seen.remove(&ns.name_any()).is_some(),
                        Event::InitDone => true,
                        Event::Init => false,
                    };
                    let me = me.clone();
                    async move {
                        if changed {
                            me.bump("Namespace");
                        }
                    }
                })
                .await;
        });

        let me = this.clone();
        tokio::spawn(async move { me.keep_status().await });
        this
    }

    fn bump(&self, what: &'static str) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        tracing::debug!(kind = what, "tenancy input changed: re-evaluating objects");
    }

    /// Writes each policy's `status.namespaces` whenever policies or namespaces change.
    async fn keep_status(&self) {
        let mut rx = self.changed.subscribe();
        while rx.changed().await.is_ok() {
            // Let a burst of events settle.
            tokio::time::sleep(Duration::from_millis(200)).await;
            rx.mark_unchanged();
            if self.policies.wait_until_ready().await.is_err() || self.namespaces.wait_until_ready().await.is_err() {
                return;
            }
            let namespaces = self.namespaces.state();
            for p in self.policies.state() {
                let mut selected: Vec<String> =
                    namespaces.iter().filter(|n| selects(&p, &n.name_any(), n.labels())).map(|n| n.name_any()).collect();
                selected.sort();
                let status = AzureScopePolicyStatus { observed_generation: p.meta().generation, namespaces: selected };
                if p.status.as_ref() == Some(&status) {
                    continue;
                }
                let api: Api<AzureScopePolicy> = Api::all(self.client.clone());
                let patch = serde_json::json!({ "status": status });
                if let Err(e) = api.patch_status(&p.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                    tracing::warn!(policy = %p.name_any(), error = %e, "could not write the status of an AzureScopePolicy");
                }
            }
        }
    }

    async fn ready(&self) -> Result<(), PolicyError> {
        let both = async {
            self.policies.wait_until_ready().await.ok()?;
            self.namespaces.wait_until_ready().await.ok()
        };
        match tokio::time::timeout(READY_WAIT, both).await {
            Ok(Some(())) => Ok(()),
            _ => Err(PolicyError::NotReady),
        }
    }
}

fn watcher<K>(api: Api<K>, writer: reflector::store::Writer<K>) -> BoxStream<'static, Event<K>>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .filter_map(|e| async move {
            match e {
                Ok(e) => Some(e),
                Err(err) => {
                    tracing::warn!(error = %err, "watch of tenancy inputs failed; retrying");
                    None
                }
            }
        })
        .boxed()
}

#[async_trait]
impl PolicySource for WatchedPolicies {
    async fn view(&self, namespace: &str) -> Result<View, PolicyError> {
        self.ready().await?;
        let labels = match self.namespaces.get(&ObjectRef::new(namespace)) {
            Some(ns) => ns.labels().clone(),
            // Not in the cache yet (just created): ask the apiserver.
            None => {
                let api: Api<Namespace> = Api::all(self.client.clone());
                let meta = api
                    .get_metadata(namespace)
                    .await
                    .map_err(|source| PolicyError::Namespace { namespace: namespace.to_string(), source })?;
                meta.labels().clone()
            }
        };
        Ok(View { labels, policies: self.policies.state() })
    }

    fn changes(&self) -> BoxStream<'static, ()> {
        let mut rx = self.changed.subscribe();
        rx.mark_unchanged();
        futures::stream::unfold(rx, |mut rx| async move { rx.changed().await.ok().map(|_| ((), rx)) }).boxed()
    }
}
