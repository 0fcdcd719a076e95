//! Runs the three controllers until shutdown, on one shared watch per kind.
//!
//! Each controller wakes on its own object's spec, deletion, finalizers and annotations (never on
//! moat's status writes), and on the related objects its reconcile reads, mapped onto it:
//!
//! | controller | wakes on |
//! |---|---|
//! | SecureWorkspace | its bindings' readiness and any binding in its private-endpoint subnet (NET-009); its ComputeSubnets' spec and subnet state (REG-003, service-endpoint firewall rules) |
//! | PrivateEndpointBinding | the workspace it belongs to or targets: its spec and deletion (PE-001, STO-001), and its readiness (its subnet and target appearing, see below); that workspace's ComputeSubnets (STO-001); bindings for the same target (DNS-006) |
//! | ComputeSubnet | its workspace: spec and deletion (VNet, region), and its readiness; its sibling ComputeSubnets (overlaps, DBX-001) |
//!
//! A workspace whose readiness drops wakes all its dependents; one that becomes ready wakes only
//! those that wait for something it provides (`context::Awaiting`: their last observe found a
//! subnet, target or VNet missing, or a finding holds them back). A dependent that has seen all
//! it needs would only queue a second pass behind its running one, reading everything again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::conditions as cond;
use super::context::{Awaiting, Context};
use super::workers::{Workers, holding};
use super::error::Error;
use super::watch::{SharedWatch, conditions_view, hash_of, own_view};
use crate::api::{ComputeSubnet, FindingStatus, PrivateEndpointBinding, SecureWorkspace};
use crate::constraints::arm::same as same_id;
use crate::plan::ids::WorkspaceIds;
use crate::plan::workspace::WORKSPACE_LABEL;
use crate::azure::pacing::{Priority, with_priority};
use super::shared_reads::{is_settled, with_settled};

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

/// Runs `reconcile` at ARM read priority `p`: a steady-state one only with a steady-state slot
/// (deferred to the next retry otherwise; it reads nothing meanwhile).
/// `settled`: the object's own Azure resources are settled for its generation
/// (`shared_reads::is_settled`), so its observe reads may reuse recent answers.
async fn paced<F>(kind: &'static str, name: String, p: Priority, settled: bool, slots: SteadySlots, ctx: Arc<Context>, reconcile: impl FnOnce(Arc<Context>) -> F) -> Result<Action, Error>
where
    F: Future<Output = Result<Action, Error>>,
{
    let Some(_slot) = slots.slot(p) else { return deferred(kind, &name, &ctx) };
    with_priority(p, with_settled(settled, reconcile(ctx))).await
}

/// [`is_settled`] for a SecureWorkspace: once its own resources are settled, what it waits for
/// is its bindings (read from the apiserver), so its ARM reads may reuse recent answers. A
/// binding or compute subnet that is not Ready waits on ARM itself (records, a target, an
/// operation) and always reads fresh.
fn workspace_settled(ws: &SecureWorkspace) -> bool {
    ws.metadata.deletion_timestamp.is_none()
        && ws.status.as_ref().is_some_and(|s| is_settled(ws.metadata.generation, s.observed_generation, &s.resources, &s.operations))
}

/// Hooks the controllers call around each reconcile (metrics in `moat run`).
pub trait Observer: Send + Sync + 'static {
    fn reconciled(&self, kind: &str, ok: bool, duration: std::time::Duration, error: Option<&Error>);
    /// A reconcile of `kind` started waiting for a worker (+1) or stopped waiting (-1).
    fn queued(&self, _kind: &str, _delta: i64) {}
    /// A reconcile of `kind` started running (+1) or ended (-1).
    fn in_flight(&self, _kind: &str, _delta: i64) {}
    /// A reconcile of `kind` that started running at `since` runs now (`true`) or ended: how
    /// long the oldest has run shows a reconcile that hangs.
    fn running(&self, _kind: &str, _since: std::time::Instant, _running: bool) {}
    /// The constraint findings the object `object` (`namespace/name`) of `kind` has now; an
    /// empty list once it is clean or being deleted. Call it whenever a reconcile computes the
    /// findings (`Context::report_findings`).
    fn findings(&self, _kind: &str, _object: &str, _findings: &[FindingStatus]) {}
    /// A pass of a `kind` object decided whether to read (`super::resync::Verdict::label`):
    /// `quiet` read only the Activity Log.
    fn resync_checked(&self, _kind: &str, _outcome: &str) {}
}

/// Counts one reconcile in the queue gauge until it gets a worker, then in the in-flight gauge
/// until it ends (also when the future is dropped at shutdown).
struct Slot<'a> {
    observer: &'a dyn Observer,
    kind: &'static str,
    /// When it got a worker.
    running: Option<std::time::Instant>,
}

impl<'a> Slot<'a> {
    fn queued(observer: &'a dyn Observer, kind: &'static str) -> Self {
        observer.queued(kind, 1);
        Self { observer, kind, running: None }
    }

    fn start(&mut self) {
        self.observer.queued(self.kind, -1);
        self.observer.in_flight(self.kind, 1);
        let now = std::time::Instant::now();
        self.observer.running(self.kind, now, true);
        self.running = Some(now);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(since) = self.running {
            self.observer.in_flight(self.kind, -1);
            self.observer.running(self.kind, since, false);
        } else {
            self.observer.queued(self.kind, -1);
        }
    }
}

/// Runs one reconcile under the controller's worker limit, with the observer's hooks around it.
/// The reconcile is made (`reconcile()`) only once a worker is free, so it starts from the object
/// as the store has it then, not as it was when it was queued.
async fn observed<F>(kind: &'static str, observer: Arc<dyn Observer>, workers: Arc<Workers>, reconcile: impl FnOnce() -> F) -> Result<Action, Error>
where
    F: Future<Output = Result<Action, Error>>,
{
    let mut slot = Slot::queued(observer.as_ref(), kind);
    let hold = workers.worker().await;
    slot.start();
    let t = std::time::Instant::now();
    // Boxed once it runs: kube-runtime holds a future for every due object, and one that holds
    // its reconcile inline is as large as the reconcile's state (about 7 KB) while it only waits
    // for a worker. Its waits for turns may trade the worker for a spare slot (`super::workers`).
    let r = Box::pin(holding(hold, reconcile())).await;
    observer.reconciled(kind, r.is_ok() || r.as_ref().err().is_some_and(Error::is_waiting), t.elapsed(), r.as_ref().err());
    r
}

/// The newest copy the store has of `obj` (a reconcile that waited for a worker may hold an older
/// one), or `obj` itself.
fn newest<K>(store: &kube::runtime::reflector::Store<K>, obj: Arc<K>) -> Arc<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::from_obj(obj.as_ref())).unwrap_or(obj)
}

/// An observer that records nothing.
pub struct NoObserver;
impl Observer for NoObserver {
    fn reconciled(&self, _: &str, _: bool, _: std::time::Duration, _: Option<&Error>) {}
}

/// How soon a reconcile whose finalizer patch was made from an out-of-date copy of its object
/// runs again (`Error::is_stale_copy`): the store has caught up by then.
const AFTER_STALE_COPY: Duration = Duration::from_millis(500);

fn error_policy<K: ResourceExt>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let uid = obj.uid().unwrap_or_else(|| obj.name_any());
    if ctx.first_stale_copy(&uid, err) {
        // Counted, so that a copy that stays out of date backs off as any failure does.
        let _ = ctx.next_pass(&uid, "", super::context::Outcome::Failed);
        tracing::debug!(name = %obj.name_any(), %err, "the finalizer patch was made from an out-of-date copy; looking again");
        return Action::requeue(AFTER_STALE_COPY);
    }
    if err.is_waiting() {
        tracing::debug!(name = %obj.name_any(), %err, "waiting");
        return Action::requeue(ctx.settings.retry.min(Duration::from_secs(5)));
    }
    tracing::warn!(name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default(), error = %err, "reconcile failed");
    // Backs off exponentially while the failure lasts (the condition already says why).
    ctx.next_pass(&uid, "", super::context::Outcome::Failed)
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

// What related objects are watched for (see the module table).

/// A workspace's network and resources readiness, as its dependents read it (its spec and
/// deletion are [`spec_view`]'s).
fn workspace_readiness(ws: &SecureWorkspace) -> Option<u64> {
    Some(hash_of(readiness_of(ws)))
}

fn readiness_of(ws: &SecureWorkspace) -> (bool, bool) {
    let st = ws.status.as_ref();
    let ready = |t: &str| st.is_some_and(|s| cond::is_true(&s.conditions, t));
    (ready(cond::NETWORK_READY), ready(cond::RESOURCES_READY))
}

/// The readiness each workspace last showed one subscription, to tell a drop from a rise.
#[derive(Default)]
struct LastReadiness(std::sync::Mutex<std::collections::HashMap<String, (bool, bool)>>);

impl LastReadiness {
    /// Records `ws`'s readiness; true when a condition it last showed true is now false (a
    /// workspace first seen has not dropped: its dependents have their own first pass).
    fn dropped(&self, ws: &SecureWorkspace) -> bool {
        let now = readiness_of(ws);
        let key = ws.uid().unwrap_or_else(|| format!("{}/{}", ws.namespace().unwrap_or_default(), ws.name_any()));
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let before = if ws.metadata.deletion_timestamp.is_some() { seen.remove(&key) } else { seen.insert(key, now) };
        before.is_some_and(|(network, resources)| (network && !now.0) || (resources && !now.1))
    }
}

/// Whether a change of a workspace's readiness wakes the dependent `uid`. One whose readiness
/// dropped wakes every dependent (something it relies on may be gone). Any other change wakes
/// only those waiting for others ([`Awaiting`]), or not yet observed: a dependent that has seen
/// its subnet, target and VNet present gains nothing from the wake (its own next pass is due
/// anyway), and a pass queued behind its running one, or after it converged, would read
/// everything again for nothing (a converged binding's VNet links: Private DNS reads, the
/// scarcest ARM allows).
fn readiness_wakes(awaiting: &Awaiting, dropped: bool, uid: Option<String>) -> bool {
    dropped || uid.is_none_or(|u| awaiting.awaits(&u))
}

/// A binding as its workspace reads it: spec, deletion, conditions and names; not the
/// operations and resources it records.
fn binding_for_workspace(b: &PrivateEndpointBinding) -> Option<u64> {
    let st = b.status.as_ref();
    let conditions = st.map(|s| conditions_view(&s.conditions)).unwrap_or_default();
    let fqdns = st.map(|s| s.fqdns.iter().map(|r| (&r.fqdn, &r.ip_addresses)).collect::<Vec<_>>()).unwrap_or_default();
    Some(hash_of((b.metadata.generation, b.metadata.deletion_timestamp.is_some(), st.and_then(|s| s.observed_generation), conditions, fqdns)))
}

/// A ComputeSubnet as others read it: spec, deletion, whether its subnet exists.
fn subnet_for_others(cs: &ComputeSubnet) -> Option<u64> {
    let st = cs.status.as_ref();
    let subnet_state = st.and_then(|s| s.resources.iter().find(|r| r.kind == "Subnet").map(|r| r.state.clone()));
    Some(hash_of((cs.metadata.generation, cs.metadata.deletion_timestamp.is_some(), subnet_state)))
}

/// Spec and deletion only.
fn spec_view<K: ResourceExt>(o: &K) -> Option<u64> {
    Some(hash_of((o.meta().generation, o.meta().deletion_timestamp.is_some())))
}

fn own<K: ResourceExt>(o: &K) -> Option<u64> {
    Some(own_view(o))
}

/// A ComputeSubnet as more than its status: what [`own_view`] sees, and whether its subnet
/// exists (a workspace's Azure work reads that).
fn subnet_structure(cs: &ComputeSubnet) -> u64 {
    hash_of((own_view(cs), subnet_for_others(cs)))
}

/// The bindings a change of another object wakes, their namespaces noted as changed for the
/// resyncs (`super::resync`): a binding may relate to objects of another namespace (a workspace
/// whose resources it targets, another binding to the same target), whose watch notes only its
/// own namespace. The other kinds relate within their namespace only.
fn woken(resyncs: &super::resync::Resyncs, refs: Vec<ObjectRef<PrivateEndpointBinding>>) -> Vec<ObjectRef<PrivateEndpointBinding>> {
    for ns in namespaces_of(&refs) {
        resyncs.kube_changed(Some(ns));
    }
    refs
}

/// [`woken`], by a change of another object's status only (a workspace's readiness).
fn woken_by_status(resyncs: &super::resync::Resyncs, refs: Vec<ObjectRef<PrivateEndpointBinding>>) -> Vec<ObjectRef<PrivateEndpointBinding>> {
    for ns in namespaces_of(&refs) {
        resyncs.kube_status_changed(ns);
    }
    refs
}

fn namespaces_of(refs: &[ObjectRef<PrivateEndpointBinding>]) -> std::collections::BTreeSet<&str> {
    refs.iter().filter_map(|r| r.namespace.as_deref()).collect()
}

/// The ComputeSubnets of a workspace.
fn subnets_of(ws: &SecureWorkspace, stores: &super::watch::Stores) -> Vec<ObjectRef<ComputeSubnet>> {
    let name = ws.name_any();
    stores
        .subnets()
        .into_iter()
        .filter(|c| c.namespace() == ws.namespace() && c.spec.workspace_ref.name == name)
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// The ids of a workspace's own resources (what its bindings target).
fn workspace_targets(ws: &SecureWorkspace) -> Vec<String> {
    let ids = WorkspaceIds::of(&ws.spec);
    [ids.workspace, ids.storage, ids.key_vault, ids.registry].into_iter().filter(|i| !i.is_empty()).collect()
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
/// `shutdown` resolves: one set of watches and controllers per watched namespace (a watch covers
/// one namespace or all of them; RBAC may grant only the listed ones), all sharing the context's
/// stores for the related objects a reconcile reads.
pub async fn run(
    ctx: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    observer: Option<Arc<dyn Observer>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let observer: Arc<dyn Observer> = observer.unwrap_or_else(|| ctx.observer.clone());
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopper = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopper.send(());
    });
    let namespaces: Vec<Option<String>> = if scope.namespaces.is_empty() { vec![None] } else { scope.namespaces.iter().cloned().map(Some).collect() };
    let sets = namespaces.into_iter().map(|ns| run_namespace(ctx.clone(), ns, scope.selector.clone(), concurrency, observer.clone(), stop_tx.clone()));
    futures::future::join_all(sets).await;
}

/// The watches and the three controllers of one namespace (`None`: all namespaces).
async fn run_namespace(
    ctx: Arc<Context>,
    namespace: Option<String>,
    selector: Option<String>,
    concurrency: u16,
    observer: Arc<dyn Observer>,
    stop_tx: tokio::sync::broadcast::Sender<()>,
) {
    let (set, writers) = ctx.stores.register();
    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    let config = ControllerConfig::default();
    let stop = move || {
        let mut rx = stop_tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };

    let wc = watcher::Config::default().any_semantic();
    let wc = match &selector {
        Some(selector) => wc.labels(selector),
        None => wc,
    };
    let mut ws_watch = SharedWatch::new(api::<SecureWorkspace>(&client, ns), wc.clone(), writers.workspaces).noting_changes(ctx.resyncs.clone(), own_view);
    let mut cs_watch = SharedWatch::new(api::<ComputeSubnet>(&client, ns), wc.clone(), writers.subnets).noting_changes(ctx.resyncs.clone(), subnet_structure);
    let mut peb_watch = SharedWatch::new(api::<PrivateEndpointBinding>(&client, ns), wc, writers.endpoints).noting_changes(ctx.resyncs.clone(), own_view);
    let stores = ctx.stores.clone();
    // A policy or namespace-label change also makes every converged object's next resync read
    // everything (`super::resync`).
    let tenancy_changes = || {
        let resyncs = ctx.resyncs.clone();
        ctx.policies.changes().inspect(move |_| resyncs.kube_changed(None))
    };
    // kube-runtime runs every due object at once (still one reconcile per object); the limit is
    // a semaphore per controller, so that the reconciles waiting for a worker can be counted.
    let workers = || Workers::new(usize::from(concurrency.max(1)));
    // A workspace's pass is the largest, and a fleet's workspaces run their operations at once.
    let workspace_workers = || Workers::lending_only_for_turns(usize::from(concurrency.max(1)));

    // SecureWorkspace.
    let ws_self = ws_watch.subscribe("SecureWorkspace", own, false);
    let ws_from_peb = peb_watch.subscribe("SecureWorkspace<-PrivateEndpointBinding", binding_for_workspace, true);
    let ws_from_cs = cs_watch.subscribe("SecureWorkspace<-ComputeSubnet", subnet_for_others, true);
    let wstore = stores.clone();
    let (o1, w1, latest1, s1) = (observer.clone(), workspace_workers(), set.workspaces.clone(), SteadySlots::new(concurrency));
    let workspaces = Controller::for_shared_stream(ws_self, set.workspaces.clone())
        .watches_shared_stream(ws_from_peb, move |b: Arc<PrivateEndpointBinding>| {
            let bns = b.namespace().unwrap_or_default();
            let owner = b.labels().get(WORKSPACE_LABEL).cloned();
            wstore
                .workspaces()
                .into_iter()
                .filter(|w| w.namespace().as_deref() == Some(bns.as_str()))
                .filter(|w| owner.as_deref() == Some(w.name_any().as_str()) || same_id(&WorkspaceIds::of(&w.spec).pe_subnet, b.spec.subnet_id.as_str()))
                .map(|w| ObjectRef::from_obj(w.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_shared_stream(ws_from_cs, |cs: Arc<ComputeSubnet>| {
            cs.namespace().map(|n| ObjectRef::<SecureWorkspace>::new(&cs.spec.workspace_ref.name).within(&n))
        })
        // A policy or namespace-label change re-evaluates every object (tenancy).
        .reconcile_all_on(tenancy_changes())
        .with_config(config.clone())
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let (latest, slots) = (latest1.clone(), s1.clone());
                observed("SecureWorkspace", o1.clone(), w1.clone(), move || {
                    let obj = newest(&latest, obj);
                    let p = read_priority(obj.status.as_ref().map(|s| s.conditions.as_slice()), &obj.metadata);
                    paced("SecureWorkspace", obj.name_any(), p, workspace_settled(&obj), slots, ctx, move |ctx| super::workspace::reconcile(obj, ctx))
                })
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    // PrivateEndpointBinding.
    let peb_self = peb_watch.subscribe("PrivateEndpointBinding", own, false);
    let peb_from_ws = ws_watch.subscribe("PrivateEndpointBinding<-SecureWorkspace", spec_view, true);
    let peb_from_ws_ready = ws_watch.subscribe("PrivateEndpointBinding<-SecureWorkspace readiness", workspace_readiness, false);
    let peb_from_cs = cs_watch.subscribe("PrivateEndpointBinding<-ComputeSubnet", spec_view, true);
    let peb_from_peb = peb_watch.subscribe("PrivateEndpointBinding<-PrivateEndpointBinding", spec_view, true);
    let (bstore1, bstore2, bstore3) = (stores.clone(), stores.clone(), stores.clone());
    let wstore2 = stores.clone();
    // The bindings a workspace concerns: its own, those in its private-endpoint subnet, those
    // that target its resources.
    let related_to = move |ws: &SecureWorkspace, store: &super::watch::Stores| {
        let targets = workspace_targets(ws);
        let pe_subnet = WorkspaceIds::of(&ws.spec).pe_subnet;
        let name = ws.name_any();
        let wns = ws.namespace();
        store
            .endpoints()
            .into_iter()
            .filter(|b| {
                (b.namespace() == wns && b.labels().get(WORKSPACE_LABEL) == Some(&name))
                    || same_id(b.spec.subnet_id.as_str(), &pe_subnet)
                    || targets.iter().any(|t| same_id(t, b.spec.target.id.as_str()))
            })
            .map(|b| ObjectRef::from_obj(b.as_ref()))
            .collect::<Vec<_>>()
    };
    let (related_to2, related_to3) = (related_to, related_to);
    let (bstore4, ctx_b, last_b) = (stores.clone(), ctx.clone(), LastReadiness::default());
    let (r1, r2, r3, r4) = (ctx.resyncs.clone(), ctx.resyncs.clone(), ctx.resyncs.clone(), ctx.resyncs.clone());
    let (o2, w2, latest2, s2) = (observer.clone(), workers(), set.endpoints.clone(), SteadySlots::new(concurrency));
    let endpoints = Controller::for_shared_stream(peb_self, set.endpoints.clone())
        .watches_shared_stream(peb_from_ws, move |ws: Arc<SecureWorkspace>| woken(&r1, related_to(&ws, &bstore1)))
        .watches_shared_stream(peb_from_ws_ready, move |ws: Arc<SecureWorkspace>| {
            let mut refs = related_to3(&ws, &bstore4);
            let dropped = last_b.dropped(&ws);
            refs.retain(|r| readiness_wakes(&ctx_b.awaiting, dropped, r.extra.uid.clone()));
            woken_by_status(&r2, refs)
        })
        .watches_shared_stream(peb_from_cs, move |cs: Arc<ComputeSubnet>| {
            let ws = wstore2.workspaces().into_iter().find(|w| w.namespace() == cs.namespace() && w.name_any() == cs.spec.workspace_ref.name);
            woken(&r3, ws.map(|w| related_to2(&w, &bstore2)).unwrap_or_default())
        })
        .watches_shared_stream(peb_from_peb, move |b: Arc<PrivateEndpointBinding>| {
            let refs = bstore3
                .endpoints()
                .into_iter()
                .filter(|o| o.uid() != b.uid() && o.spec.target.group_id == b.spec.target.group_id && same_id(o.spec.target.id.as_str(), b.spec.target.id.as_str()))
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect::<Vec<_>>();
            woken(&r4, refs)
        })
        .reconcile_all_on(tenancy_changes())
        .with_config(config.clone())
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let (latest, slots) = (latest2.clone(), s2.clone());
                observed("PrivateEndpointBinding", o2.clone(), w2.clone(), move || {
                    let obj = newest(&latest, obj);
                    let p = read_priority(obj.status.as_ref().map(|s| s.conditions.as_slice()), &obj.metadata);
                    paced("PrivateEndpointBinding", obj.name_any(), p, false, slots, ctx, move |ctx| super::endpoint::reconcile(obj, ctx))
                })
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    // ComputeSubnet.
    let cs_self = cs_watch.subscribe("ComputeSubnet", own, false);
    let cs_from_ws = ws_watch.subscribe("ComputeSubnet<-SecureWorkspace", spec_view, true);
    let cs_from_ws_ready = ws_watch.subscribe("ComputeSubnet<-SecureWorkspace readiness", workspace_readiness, false);
    let cs_from_cs = cs_watch.subscribe("ComputeSubnet<-ComputeSubnet", spec_view, true);
    let (cstore1, cstore2, cstore3, ctx_c, last_c) = (stores.clone(), stores.clone(), stores.clone(), ctx.clone(), LastReadiness::default());
    let (o3, w3, latest3, s3) = (observer.clone(), workers(), set.subnets.clone(), SteadySlots::new(concurrency));
    let subnets = Controller::for_shared_stream(cs_self, set.subnets.clone())
        .watches_shared_stream(cs_from_ws, move |ws: Arc<SecureWorkspace>| subnets_of(&ws, &cstore1))
        .watches_shared_stream(cs_from_ws_ready, move |ws: Arc<SecureWorkspace>| {
            let mut refs = subnets_of(&ws, &cstore3);
            let dropped = last_c.dropped(&ws);
            refs.retain(|r| readiness_wakes(&ctx_c.awaiting, dropped, r.extra.uid.clone()));
            refs
        })
        .watches_shared_stream(cs_from_cs, move |cs: Arc<ComputeSubnet>| {
            cstore2
                .subnets()
                .into_iter()
                .filter(|c| c.uid() != cs.uid() && c.namespace() == cs.namespace() && c.spec.workspace_ref == cs.spec.workspace_ref)
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_all_on(tenancy_changes())
        .with_config(config)
        .graceful_shutdown_on(stop())
        .run(
            move |obj, ctx| {
                let (latest, slots) = (latest3.clone(), s3.clone());
                observed("ComputeSubnet", o3.clone(), w3.clone(), move || {
                    let obj = newest(&latest, obj);
                    let p = read_priority(obj.status.as_ref().map(|s| s.conditions.as_slice()), &obj.metadata);
                    paced("ComputeSubnet", obj.name_any(), p, false, slots, ctx, move |ctx| super::subnet::reconcile(obj, ctx))
                })
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    // The watches run until the controllers stop (dropping them ends the subscriptions).
    let watches = async move {
        tokio::join!(ws_watch.run(), cs_watch.run(), peb_watch.run());
    };
    tokio::select! {
        _ = async { tokio::join!(workspaces, endpoints, subnets) } => {}
        _ = watches => tracing::error!("the shared watches ended"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// No ARM: the error policy never reaches it.
    struct NoArmProvider;
    #[async_trait::async_trait]
    impl super::super::context::ArmProvider for NoArmProvider {
        async fn arm_for(&self, _: &str, _: Option<&crate::api::SecretRef>) -> Result<Arc<dyn crate::controller::arm::Arm>, Error> {
            Err(Error::Credentials("no ARM here".into()))
        }
        fn default_tenant(&self) -> Option<String> {
            None
        }
        fn arm_endpoint(&self) -> url::Url {
            url::Url::parse("https://127.0.0.1:1/").expect("url")
        }
    }

    #[tokio::test]
    async fn a_finalizer_patch_from_an_out_of_date_copy_is_retried_at_once_then_backs_off_if_it_stays() {
        use kube::runtime::finalizer::Error as F;
        // A client that never connects: the policy makes no request.
        let config = kube::Config::new("https://127.0.0.1:1".parse().expect("uri"));
        let client = kube::Client::try_from(config).expect("client");
        let settings = super::super::context::Settings { retry: Duration::from_secs(10), ..Default::default() };
        let ctx = Arc::new(Context::new(client, Arc::new(NoArmProvider), settings));
        let mut peb: PrivateEndpointBinding = serde_json::from_value(serde_json::json!({
            "apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding",
            "metadata": {"name": "b", "namespace": "ns", "uid": "uid-b"},
            "spec": {"target": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "groupId": "blob"},
                     "subnetId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe", "location": "westeurope"}
        }))
        .expect("binding");
        peb.metadata.uid = Some("uid-b".into());
        let peb = Arc::new(peb);
        let stale = || {
            let status = kube::core::Status::failure("the server rejected our request due to an error in our request", "Invalid").with_code(422);
            Error::Finalizer(Box::new(F::AddFinalizer(kube::Error::Api(status.boxed()))))
        };
        assert_eq!(error_policy(peb.clone(), &stale(), ctx.clone()), Action::requeue(AFTER_STALE_COPY), "the first: at once");
        assert_eq!(ctx.failures_in_a_row("uid-b"), 1, "and counted");
        // Again in a row: the copy stays out of date; a failure like any other, backed off.
        assert_eq!(error_policy(peb.clone(), &stale(), ctx.clone()), Action::requeue(Duration::from_secs(20)));
        // A pass that ends well resets the count: the next stale copy is retried at once again.
        let _ = ctx.next_pass("uid-b", "", super::super::context::Outcome::Progressing);
        assert_eq!(error_policy(peb, &stale(), ctx), Action::requeue(AFTER_STALE_COPY));
    }

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

    /// An ARM that answers nothing.
    struct NoArm;
    #[async_trait::async_trait]
    impl crate::controller::arm::Arm for NoArm {
        async fn get(&self, id: &str) -> Result<Option<serde_json::Value>, crate::controller::arm::ArmFailure> {
            Err(crate::controller::arm::ArmFailure::local("GET", id, "Unexpected", "no ARM here"))
        }
        async fn list(&self, id: &str) -> Result<Vec<serde_json::Value>, crate::controller::arm::ArmFailure> {
            Err(crate::controller::arm::ArmFailure::local("GET", id, "Unexpected", "no ARM here"))
        }
        async fn write(&self, m: &str, id: &str, _: &serde_json::Value) -> Result<crate::controller::arm::Started, crate::controller::arm::ArmFailure> {
            Err(crate::controller::arm::ArmFailure::local(m, id, "Unexpected", "no ARM here"))
        }
        async fn delete(&self, id: &str) -> Result<crate::controller::arm::Started, crate::controller::arm::ArmFailure> {
            Err(crate::controller::arm::ArmFailure::local("DELETE", id, "Unexpected", "no ARM here"))
        }
        async fn poll(&self, op: &crate::api::PendingOperation) -> Result<crate::controller::arm::Polled, crate::controller::arm::ArmFailure> {
            Err(crate::controller::arm::ArmFailure::local("GET", &op.resource_id, "Unexpected", "no ARM here"))
        }
    }

    #[tokio::test]
    async fn a_hung_reconcile_shows_in_the_longest_running_gauge_until_it_ends() {
        let metrics = crate::runtime::metrics::Metrics::new();
        metrics.init_kinds(&["ComputeSubnet"]);
        let observer: Arc<dyn Observer> = Arc::new(metrics.clone());
        let longest = |m: &crate::runtime::metrics::Metrics| -> f64 {
            let text = m.encode_prometheus().expect("encode");
            text.lines()
                .find_map(|l| l.strip_prefix(r#"moat_reconcile_longest_running_seconds{kind="ComputeSubnet"} "#))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        assert_eq!(longest(&metrics), 0.0, "nothing runs");
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(observed("ComputeSubnet", observer, Workers::new(1), move || async move {
            let _ = started.send(());
            let _ = hold.await;
            Ok(Action::await_change())
        }));
        running.await.expect("the reconcile started");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(longest(&metrics) >= 0.05, "a reconcile that runs shows its age: {}", longest(&metrics));
        let _ = release.send(());
        assert!(task.await.expect("join").is_ok());
        assert_eq!(longest(&metrics), 0.0, "back to 0 once it ended");
    }

    #[tokio::test]
    async fn a_reconcile_waiting_for_a_worker_does_not_hold_the_reconcile_state() {
        let big = || async {
            let state = [7u8; 64 * 1024];
            tokio::task::yield_now().await;
            Ok::<_, Error>(Action::requeue(Duration::from_secs(u64::from(state[0]))))
        };
        let observer: Arc<dyn Observer> = Arc::new(NoObserver);
        let waiting = observed("SecureWorkspace", observer.clone(), Workers::new(1), big);
        assert!(std::mem::size_of_val(&waiting) < 1024, "{} bytes while waiting", std::mem::size_of_val(&waiting));
        assert!(waiting.await.is_ok());
    }

    #[tokio::test]
    async fn a_binding_woken_by_another_namespace_reads_everything_at_its_next_pass() {
        use crate::controller::resync::{KubeChanges, Resyncs, Verdict};
        let r = Resyncs::new(12, Duration::from_secs(300), Duration::ZERO);
        let vnet = "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v".to_string();
        r.converged("b", Some(1), r.start("team-b"), vec![vnet]);
        // A change in the workspace's namespace alone leaves the binding's epoch as it was (the
        // log it then asks for is unreadable here).
        r.kube_changed(Some("team-a"));
        assert_eq!(r.check(&NoArm, "b", Some(1), "team-b", KubeChanges::All).await, Verdict::Error);
        let refs = woken(&r, vec![ObjectRef::<PrivateEndpointBinding>::new("b").within("team-b")]);
        assert_eq!(refs.len(), 1, "the wake itself is passed on");
        assert_eq!(r.check(&NoArm, "b", Some(1), "team-b", KubeChanges::All).await, Verdict::Kubernetes);
    }

    fn workspace(network: bool, resources: bool) -> SecureWorkspace {
        let c = |t: &str, ok: bool| serde_json::json!({"type": t, "status": if ok { "True" } else { "False" }, "reason": "R", "message": "", "lastTransitionTime": "2026-12-06T00:00:00Z"});
        serde_json::from_value(serde_json::json!({
            "apiVersion": "moat.dev/v1alpha1", "kind": "SecureWorkspace", "metadata": {"name": "ws", "namespace": "ns"},
            "spec": {
                "subscriptionId": "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "resourceGroup": "rg", "location": "westeurope",
                "network": {"vnet": {"name": "vnet", "addressSpace": ["10.20.0.0/16"]}, "privateEndpointSubnet": {"name": "snet-pe", "addressPrefix": "10.20.0.0/24"}},
                "workspace": {"name": "mlw"}, "storage": {"name": "st01"}, "keyVault": {"name": "kv-01"}, "containerRegistry": {"name": "cr01"}, "applicationInsights": {"name": "appi"}
            },
            "status": {"conditions": [c(cond::NETWORK_READY, network), c(cond::RESOURCES_READY, resources)]}
        }))
        .expect("workspace")
    }

    #[test]
    fn a_workspace_wakes_the_dependents_that_wait_for_it_and_all_of_them_when_its_readiness_drops() {
        let awaiting = Awaiting::default();
        awaiting.set("waits", true);
        awaiting.set("has-all", false);
        let last = LastReadiness::default();
        let wakes = |ws: &SecureWorkspace| {
            let dropped = last.dropped(ws);
            ["waits", "has-all", "never-observed"].into_iter().filter(|u| readiness_wakes(&awaiting, dropped, Some(u.to_string()))).collect::<Vec<_>>()
        };
        // Rising, whether or not all the way: only those that wait (or were never observed).
        assert_eq!(wakes(&workspace(false, false)), vec!["waits", "never-observed"], "first seen");
        assert_eq!(wakes(&workspace(true, false)), vec!["waits", "never-observed"], "network ready: a converged binding gains nothing");
        assert_eq!(wakes(&workspace(true, true)), vec!["waits", "never-observed"], "saw its prerequisites: no second pass");
        // Dropping: everyone looks again (what they rely on may be gone).
        assert_eq!(wakes(&workspace(false, true)), vec!["waits", "has-all", "never-observed"]);
        assert_ne!(workspace_readiness(&workspace(true, true)), workspace_readiness(&workspace(false, true)));
        assert_eq!(wakes(&workspace(true, true)), vec!["waits", "never-observed"], "back up");
        assert_eq!(wakes(&workspace(true, false)), vec!["waits", "has-all", "never-observed"], "resources dropped");
        awaiting.forget("has-all");
        assert!(readiness_wakes(&awaiting, false, Some("has-all".into())), "forgotten: as if never observed");
    }

    #[tokio::test]
    async fn reconciles_beyond_the_worker_limit_wait_in_the_queue() {
        let gauges = Arc::new(Gauges::default());
        let observer: Arc<dyn Observer> = gauges.clone();
        let workers = Workers::new(1);
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let first = tokio::spawn(observed("ComputeSubnet", observer.clone(), workers.clone(), move || async move {
            let _ = hold.await;
            Ok(Action::await_change())
        }));
        while gauges.0.lock().expect("lock").1 == 0 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn(observed("ComputeSubnet", observer.clone(), workers.clone(), || async { Ok(Action::await_change()) }));
        while gauges.0.lock().expect("lock").0 == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*gauges.0.lock().expect("lock"), (1, 1, 0), "one waits, one runs");
        let _ = release.send(());
        assert!(first.await.expect("join").is_ok());
        assert!(second.await.expect("join").is_ok());
        assert_eq!(*gauges.0.lock().expect("lock"), (0, 0, 2), "both ran and left both gauges");
        // A reconcile dropped while it waits (shutdown) leaves the queue too.
        let _held = workers.worker().await;
        let waiting = tokio::spawn(observed("ComputeSubnet", observer.clone(), workers.clone(), || async { Ok(Action::await_change()) }));
        while gauges.0.lock().expect("lock").0 == 0 {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(*gauges.0.lock().expect("lock"), (0, 0, 2));
    }
}
