//! One watch per kind, shared by every controller: it fills the reflector store the reconcilers
//! read related objects from (no LIST per reconcile), and fans the changes out to the controllers
//! that care, each through its own filter.
//!
//! A filter hashes the part of an object its subscriber reacts to (a spec generation, a readiness
//! condition, a deletion mark). A change that leaves the hash alone is not passed on: moat's own
//! status writes (an operation recorded, progress written) never wake moat, and a workspace is not
//! woken by a binding's bookkeeping, only by a change in what it reads.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};

/// What a subscriber reacts to: `None` passes every change.
pub type Filter<K> = fn(&K) -> Option<u64>;

struct Subscriber<K> {
    name: &'static str,
    filter: Filter<K>,
    /// Pass deletions on too (to map them onto other objects).
    deletions: bool,
    last: HashMap<String, u64>,
    tx: mpsc::UnboundedSender<Arc<K>>,
}

/// The watch of one kind, before it runs: subscribe, then [`SharedWatch::run`] it.
pub struct SharedWatch<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    api: Api<K>,
    config: watcher::Config,
    writer: Writer<K>,
    subscribers: Vec<Subscriber<K>>,
    /// Told of every change a subscriber is passed (`super::resync`: a converged object's
    /// resync reads everything again after one in its namespace), and of whether it was more
    /// than a status: a change of the [`NotedChanges::structural`] view.
    resyncs: Option<NotedChanges<K>>,
}

/// Where a watch notes its changes, and the view of an object that is more than its status.
struct NotedChanges<K> {
    resyncs: Arc<super::resync::Resyncs>,
    structural: fn(&K) -> u64,
    last: HashMap<String, u64>,
}

impl<K: ResourceExt> NotedChanges<K> {
    /// `obj` (key `k`) changed or went (`deleted`); `passed`: a subscriber was told. A change of
    /// the structural view, or an object appearing or going, is noted as any change (even one
    /// no subscriber was told of: the next status change must not stand for it); else, one a
    /// subscriber was told of, as a status change.
    fn note(&mut self, k: String, obj: &K, deleted: bool, passed: bool) {
        let structural = if deleted {
            self.last.remove(&k).is_some() || passed
        } else {
            let view = (self.structural)(obj);
            self.last.insert(k, view) != Some(view)
        };
        let ns = obj.namespace();
        if structural {
            self.resyncs.kube_changed(ns.as_deref());
        } else if passed {
            match ns.as_deref() {
                Some(ns) => self.resyncs.kube_status_changed(ns),
                None => self.resyncs.kube_changed(None),
            }
        }
    }
}

/// The stores of one watched namespace (or of all namespaces), one per kind.
#[derive(Clone)]
pub struct StoreSet {
    pub workspaces: Store<SecureWorkspace>,
    pub subnets: Store<ComputeSubnet>,
    pub endpoints: Store<PrivateEndpointBinding>,
}

/// The writers that fill a [`StoreSet`]; `controller::run` hands them to the watches.
pub struct Writers {
    pub workspaces: Writer<SecureWorkspace>,
    pub subnets: Writer<ComputeSubnet>,
    pub endpoints: Writer<PrivateEndpointBinding>,
}

/// Every object of the three kinds moat watches: one [`StoreSet`] per watched namespace (or one
/// for all namespaces). What the reconcilers read related objects from.
#[derive(Clone, Default)]
pub struct Stores {
    sets: Arc<std::sync::RwLock<Vec<StoreSet>>>,
}

impl Stores {
    /// A new, empty set of stores (one watched namespace) and the writers that fill it.
    pub fn register(&self) -> (StoreSet, Writers) {
        let (workspaces, ws) = reflector::store();
        let (subnets, cs) = reflector::store();
        let (endpoints, peb) = reflector::store();
        let set = StoreSet { workspaces, subnets, endpoints };
        if let Ok(mut sets) = self.sets.write() {
            sets.push(set.clone());
        }
        (set, Writers { workspaces: ws, subnets: cs, endpoints: peb })
    }

    fn collect<T>(&self, f: impl Fn(&StoreSet) -> Vec<T>) -> Vec<T> {
        self.sets.read().map(|sets| sets.iter().flat_map(&f).collect()).unwrap_or_default()
    }

    pub fn workspaces(&self) -> Vec<Arc<SecureWorkspace>> {
        self.collect(|s| s.workspaces.state())
    }

    pub fn subnets(&self) -> Vec<Arc<ComputeSubnet>> {
        self.collect(|s| s.subnets.state())
    }

    pub fn endpoints(&self) -> Vec<Arc<PrivateEndpointBinding>> {
        self.collect(|s| s.endpoints.state())
    }

    /// One SecureWorkspace by namespace and name.
    pub fn workspace(&self, namespace: &str, name: &str) -> Option<Arc<SecureWorkspace>> {
        let key = reflector::ObjectRef::<SecureWorkspace>::new(name).within(namespace);
        self.sets.read().ok()?.iter().find_map(|s| s.workspaces.get(&key))
    }

    /// Every object of the three kinds moat watches, as the catalog's inputs take them.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { workspaces: self.workspaces(), subnets: self.subnets(), endpoints: self.endpoints() }
    }
}

/// The objects of the stores at one moment.
pub struct Snapshot {
    pub workspaces: Vec<Arc<SecureWorkspace>>,
    pub subnets: Vec<Arc<ComputeSubnet>>,
    pub endpoints: Vec<Arc<PrivateEndpointBinding>>,
}

impl Snapshot {
    /// A snapshot of objects that are not in a store (`moat plan`'s files).
    pub fn of(workspaces: &[SecureWorkspace], subnets: &[ComputeSubnet], endpoints: &[PrivateEndpointBinding]) -> Snapshot {
        Snapshot {
            workspaces: workspaces.iter().cloned().map(Arc::new).collect(),
            subnets: subnets.iter().cloned().map(Arc::new).collect(),
            endpoints: endpoints.iter().cloned().map(Arc::new).collect(),
        }
    }

    /// The catalog's inputs over these objects and `observed`.
    pub fn inputs<'a>(&'a self, observed: &'a crate::constraints::Observed) -> crate::constraints::Inputs<'a> {
        crate::constraints::Inputs {
            workspaces: self.workspaces.iter().map(|o| o.as_ref()).collect(),
            subnets: self.subnets.iter().map(|o| o.as_ref()).collect(),
            endpoints: self.endpoints.iter().map(|o| o.as_ref()).collect(),
            observed,
        }
    }
}

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    /// The watch of `api` that fills the store behind `writer`.
    pub fn new(api: Api<K>, config: watcher::Config, writer: Writer<K>) -> Self {
        SharedWatch { api, config, writer, subscribers: Vec::new(), resyncs: None }
    }

    /// Tells `resyncs` of every change passed on to a subscriber: a change of `structural` (or
    /// an object appearing or going) as any change, any other as a status change
    /// ([`super::resync::Resyncs::kube_status_changed`]).
    pub fn noting_changes(mut self, resyncs: Arc<super::resync::Resyncs>, structural: fn(&K) -> u64) -> Self {
        self.resyncs = Some(NotedChanges { resyncs, structural, last: HashMap::new() });
        self
    }
}

fn key<K: ResourceExt>(o: &K) -> String {
    o.uid().unwrap_or_else(|| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
}

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    /// A stream of the objects whose filtered view changed (every object once at start).
    pub fn subscribe(&mut self, name: &'static str, filter: Filter<K>, deletions: bool) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.subscribers.push(Subscriber { name, filter, deletions, last: HashMap::new(), tx });
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    fn offer(&mut self, obj: &K, deleted: bool) {
        let k = key(obj);
        let arc = Arc::new(obj.clone());
        let mut passed = false;
        for s in &mut self.subscribers {
            let pass = if deleted {
                s.last.remove(&k);
                s.deletions
            } else {
                match (s.filter)(obj) {
                    None => true,
                    Some(h) => s.last.insert(k.clone(), h) != Some(h),
                }
            };
            passed |= pass;
            if pass && s.tx.send(arc.clone()).is_err() {
                tracing::debug!(subscriber = s.name, "subscriber gone");
            }
        }
        if let Some(noted) = &mut self.resyncs {
            noted.note(k, obj, deleted, passed);
        }
    }

    /// Drives the watch until the process stops.
    pub async fn run(mut self) {
        let mut events = watcher::watcher(self.api.clone(), self.config.clone()).default_backoff().boxed();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(ev) => {
                    let ev = ev.modify(slim);
                    self.writer.apply_watcher_event(&ev);
                    match &ev {
                        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => self.offer(o, false),
                        watcher::Event::Delete(o) => self.offer(o, true),
                        watcher::Event::Init | watcher::Event::InitDone => {}
                    }
                }
                Err(e) => tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying with backoff"),
            }
        }
    }
}


/// What no reconcile reads is not kept in the store: the managed fields (every field manager's
/// field set, often larger than the object's spec and status together) and kubectl's
/// last-applied copy of the object. With thousands of objects, they were most of moat's memory.
fn slim<K: Resource>(o: &mut K) {
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A stable hash of anything hashable.
pub fn hash_of(v: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Conditions as a subscriber compares them: type, status, reason, message, observed generation
/// (never the transition time alone).
pub fn conditions_view(cs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Vec<(&str, &str, &str, &str, Option<i64>)> {
    let mut v: Vec<_> = cs.iter().map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str(), c.message.as_str(), c.observed_generation)).collect();
    v.sort();
    v
}

/// What a reconciler of the object itself reacts to: its spec (generation), deletion, finalizers,
/// labels and moat's annotations; not its status.
pub fn own_view<K: ResourceExt>(o: &K) -> u64 {
    let moat_annotations: Vec<(&String, &String)> = o.annotations().iter().filter(|(k, _)| k.starts_with("moat.dev/")).collect();
    hash_of((o.meta().generation, o.meta().deletion_timestamp.is_some(), o.finalizers(), o.labels(), moat_annotations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_tells_a_status_change_from_a_change_of_more() {
        let resyncs = Arc::new(super::super::resync::Resyncs::new(12, std::time::Duration::from_secs(60), std::time::Duration::ZERO));
        let mut noted = NotedChanges::<PrivateEndpointBinding> { resyncs: resyncs.clone(), structural: own_view, last: HashMap::new() };
        let mut b: PrivateEndpointBinding = serde_json::from_value(serde_json::json!({
            "apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding",
            "metadata": {"name": "b", "namespace": "ns", "uid": "u", "generation": 1},
            "spec": {"target": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "groupId": "blob"},
                     "subnetId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe",
                     "location": "westeurope"}
        }))
        .expect("binding");
        let epochs = || resyncs.epochs_of("ns");
        noted.note("u".into(), &b, false, true);
        assert_eq!(epochs(), (1, 1), "a new object is more than a status");
        b.status = Some(Default::default());
        noted.note("u".into(), &b, false, true);
        assert_eq!(epochs(), (2, 1), "its status changed");
        noted.note("u".into(), &b, false, false);
        assert_eq!(epochs(), (2, 1), "nothing a subscriber was told of");
        b.metadata.generation = Some(2);
        noted.note("u".into(), &b, false, false);
        assert_eq!(epochs(), (3, 2), "a new spec counts even when no subscriber was told");
        b.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
        noted.note("u".into(), &b, false, true);
        assert_eq!(epochs(), (4, 3), "labels are more than a status");
        noted.note("u".into(), &b, true, true);
        assert_eq!(epochs(), (5, 4), "a deletion");
        assert_eq!(resyncs.epochs_of("other"), (0, 0));
    }

    #[test]
    fn the_store_keeps_neither_managed_fields_nor_the_last_applied_copy() {
        let mut ws: SecureWorkspace = serde_json::from_value(serde_json::json!({
            "apiVersion": "moat.dev/v1alpha1", "kind": "SecureWorkspace",
            "metadata": {"name": "ws", "namespace": "ns",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "moat.dev/paused": "true"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
            "spec": {
                "subscriptionId": "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "resourceGroup": "rg", "location": "westeurope",
                "network": {"vnet": {"name": "vnet", "addressSpace": ["10.20.0.0/16"]}, "privateEndpointSubnet": {"name": "snet-pe", "addressPrefix": "10.20.0.0/24"}},
                "workspace": {"name": "mlw"}, "storage": {"name": "st01"}, "keyVault": {"name": "kv-01"}, "containerRegistry": {"name": "cr01"}, "applicationInsights": {"name": "appi"}
            }
        }))
        .expect("workspace");
        let before = own_view(&ws);
        slim(&mut ws);
        assert!(ws.metadata.managed_fields.is_none());
        assert_eq!(ws.annotations().len(), 1, "moat's own annotations stay: {:?}", ws.annotations());
        assert_eq!(own_view(&ws), before, "nothing a reconcile reacts to is gone");
    }
}
