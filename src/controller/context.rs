//! What every reconciler shares: the kube client, the ARM access, the event recorder, settings.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::arm::Arm;
use super::converge::{Converger, EventSink, OpsTracker};
use super::error::{Error, Result};
use super::watch::Stores;
use crate::api::{ResourceStatus, SecretRef};
use crate::plan::ownership::Owner;
use crate::tenancy::{NoPolicies, PolicySource};

/// Field manager of every write moat makes to the Kubernetes API.
pub const MANAGER: &str = "moat";

/// Gives the ARM access for an object: its credentialRef's Secret, or moat's own identity.
#[async_trait]
pub trait ArmProvider: Send + Sync {
    async fn arm_for(&self, namespace: &str, credential_ref: Option<&SecretRef>) -> Result<Arc<dyn Arm>>;
    /// Tenant of moat's own identity, when known (the key vault needs one).
    fn default_tenant(&self) -> Option<String>;
    /// The ARM endpoint every request goes to (polls must stay on it).
    fn arm_endpoint(&self) -> url::Url;
}

/// Reconciler settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Subscriptions moat may touch at all (the cap on every AzureScopePolicy); empty or `*` = any.
    pub allowed_subscriptions: Vec<String>,
    /// Re-read period at steady state.
    pub resync: Duration,
    /// Longest a reconcile waits on Azure operations before requeueing (they stay recorded).
    pub operation_budget: Duration,
    /// Requeue interval while converging.
    pub retry: Duration,
    /// GET interval while another operation holds a resource.
    pub busy_poll: Duration,
    /// While a reconcile waits on Azure, how often its progress is written to status.
    pub progress_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allowed_subscriptions: vec![],
            resync: Duration::from_secs(300),
            operation_budget: Duration::from_secs(600),
            retry: Duration::from_secs(10),
            busy_poll: Duration::from_secs(5),
            progress_every: Duration::from_secs(10),
        }
    }
}

/// How a reconcile ended, for when to look at the object again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Azure matches the spec (or a constraint holds the object back): the resync period.
    Settled,
    /// Operations running, other objects to wait for: the retry interval.
    Progressing,
    /// Azure refused a write or an operation failed: exponential backoff, up to the resync
    /// period, counted over consecutive failing reconciles.
    Failed,
}

impl Settings {
    /// The wait after the `n`th failing reconcile in a row (n >= 1): the retry interval doubled
    /// each time, never beyond the resync period.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        self.retry.saturating_mul(factor).min(self.resync.max(self.retry))
    }

    /// How long a steady-state observe read may reuse another reconcile's answer
    /// (`super::shared_reads`): half the resync period, so every resync reads each resource
    /// once at least.
    pub fn shared_read_max_age(&self) -> Duration {
        self.resync / 2
    }

    /// The wait from `now` (seconds since the Unix epoch) to the next steady-state pass of an
    /// object of the group `group` (a namespace and workspace): the objects of one group resync
    /// together, at the same phase of the resync period, so that one read of what they share
    /// serves them all (`super::shared_reads`); different groups spread over the period. The
    /// wait is between half a period and one and a half.
    pub fn aligned_resync(&self, group: &str, now: Duration) -> Duration {
        let period = self.resync.as_millis().max(1);
        let phase = u128::from(fnv1a(group)) % period;
        let now_ms = now.as_millis();
        // The next instant at this phase that is at least half a period away.
        let earliest = now_ms + period / 2;
        let mut next = earliest - (earliest % period) + phase;
        if next < earliest {
            next += period;
        }
        Duration::from_millis(u64::try_from(next - now_ms).unwrap_or(u64::MAX))
    }

    pub fn subscription_allowed(&self, sub: &str) -> bool {
        self.allowed_subscriptions.is_empty() || self.allowed_subscriptions.iter().any(|s| s == "*" || s.eq_ignore_ascii_case(sub))
    }
}

/// FNV-1a: a hash that is the same in every process and release (the resync phase of a group
/// must not change when moat restarts).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

pub struct Context {
    pub client: kube::Client,
    pub arm: Arc<dyn ArmProvider>,
    pub recorder: Recorder,
    pub settings: Settings,
    /// One lock per serialised Azure parent (VNet, NSG, route table, private endpoint, private
    /// DNS zone), held from a write until its operation ends, across every object moat
    /// reconciles: ARM would refuse the second write with 409 `AnotherOperationInProgress`;
    /// and the operations a pass stopped waiting for, which still hold theirs (`super::turns`).
    pub turns: Arc<super::turns::Turns>,
    /// Every SecureWorkspace, ComputeSubnet and PrivateEndpointBinding moat watches, kept by one
    /// shared watch per kind (`controller::run`): the related objects a reconcile reads.
    pub stores: Stores,
    /// The AzureScopePolicy objects and namespace labels (`crate::tenancy`): what each
    /// namespace may touch. Without [`Context::with_policies`], no namespace may touch anything.
    pub policies: Arc<dyn PolicySource>,
    /// Where the reconcilers report what they find (metrics in `moat run`).
    pub observer: Arc<dyn super::run::Observer>,
    /// Consecutive failing reconciles per object (by uid), for the backoff.
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    /// Which objects wait for something other objects provide ([`Awaiting`]).
    pub awaiting: Awaiting,
    /// Resyncs that ask the Activity Log what changed (`super::resync`); off unless
    /// [`Context::with_resyncs`].
    pub resyncs: Arc<super::resync::Resyncs>,
}

/// Per object (by uid): whether its current or last pass waits for something other objects
/// provide (its subnet, target or VNet, a sibling's fix).
#[derive(Default)]
pub struct Awaiting(std::sync::Mutex<std::collections::HashMap<String, bool>>);

impl Awaiting {
    /// Records, as soon as a pass has observed them, whether the object waits for something
    /// other objects provide: a subnet, target or VNet not there yet, or a finding that holds it
    /// back (which a sibling's or its workspace's change may lift).
    pub fn set(&self, uid: &str, awaiting: bool) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(uid.to_string(), awaiting);
    }

    /// Whether the object waits for others; true before any pass of it has observed anything.
    pub fn awaits(&self, uid: &str) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(uid).copied().unwrap_or(true)
    }

    pub fn forget(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }
}

impl Context {
    pub fn new(client: kube::Client, arm: Arc<dyn ArmProvider>, settings: Settings) -> Self {
        let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        let recorder = Recorder::new(client.clone(), reporter);
        Self {
            client,
            arm,
            recorder,
            settings,
            turns: Arc::new(super::turns::Turns::new()),
            stores: Stores::default(),
            policies: Arc::new(NoPolicies),
            observer: Arc::new(super::run::NoObserver),
            failures: Default::default(),
            awaiting: Default::default(),
            resyncs: Default::default(),
        }
    }

    /// Resyncs that ask the Activity Log what changed before reading (`super::resync`).
    pub fn with_resyncs(mut self, resyncs: super::resync::Resyncs) -> Self {
        self.resyncs = Arc::new(resyncs);
        self
    }

    /// At the start of a pass of a `kind` object: true when it may end here, reading nothing
    /// more, because its last pass converged and nothing it reads changed since
    /// ([`super::resync::Resyncs::check`]). Otherwise the pass reads everything, and records
    /// again if it converges.
    /// `changes`: which changes in Kubernetes make it read ([`super::resync::KubeChanges`]).
    pub async fn quiet_resync(&self, kind: &str, arm: &dyn super::arm::Arm, uid: &str, generation: Option<i64>, namespace: &str, changes: super::resync::KubeChanges) -> bool {
        use super::resync::Verdict;
        let verdict = self.resyncs.check(arm, uid, generation, namespace, changes).await;
        if verdict != Verdict::Off {
            self.observer.resync_checked(kind, verdict.label());
        }
        match verdict {
            Verdict::Quiet => {
                tracing::debug!(kind, uid, "resync: nothing it reads changed (Activity Log); no other read");
                return true;
            }
            Verdict::Recent => {
                tracing::debug!(kind, uid, "only statuses changed, and Azure was seen unchanged lately: no read");
                return true;
            }
            _ => {}
        }
        self.resyncs.forget(uid);
        false
    }

    /// See [`Awaiting::set`].
    pub fn set_awaiting(&self, uid: &str, awaiting: bool) {
        self.awaiting.set(uid, awaiting);
    }

    /// Forgets an object moat no longer reconciles.
    pub fn forget(&self, uid: &str) {
        self.awaiting.forget(uid);
        self.resyncs.forget(uid);
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
        forget_writes(uid);
    }

    /// The failing reconciles of an object in a row, so far.
    pub fn failures_in_a_row(&self, uid: &str) -> u32 {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).get(uid).copied().unwrap_or(0)
    }

    /// Whether `err` is a finalizer patch made from an out-of-date copy of the object `uid`
    /// ([`Error::is_stale_copy`]) and the first of its failures in a row: looked at again at once,
    /// without a failure condition. A repeat is a failure like any other.
    pub fn first_stale_copy(&self, uid: &str, err: &Error) -> bool {
        err.is_stale_copy() && self.failures_in_a_row(uid) == 0
    }

    /// When to look at an object again after a reconcile that ended with `outcome`; a failure
    /// backs off exponentially (a persistently failing object costs a few ARM calls per resync
    /// period, not a hot loop), anything else resets the count.
    pub fn next_pass(&self, uid: &str, group: &str, outcome: Outcome) -> kube::runtime::controller::Action {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = match outcome {
            Outcome::Failed => {
                let n = failures.entry(uid.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                self.settings.backoff(*n)
            }
            Outcome::Progressing => {
                failures.remove(uid);
                self.settings.retry
            }
            Outcome::Settled => {
                failures.remove(uid);
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                self.settings.aligned_resync(group, now)
            }
        };
        kube::runtime::controller::Action::requeue(wait)
    }

    /// Where the reconcilers report (and `controller::run` hooks its counts).
    pub fn with_observer(mut self, observer: Arc<dyn super::run::Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Reports the findings of one object, as computed now (an empty list once it is clean or
    /// being deleted).
    pub fn report_findings(&self, kind: &str, namespace: &str, name: &str, findings: &[crate::api::FindingStatus]) {
        self.observer.findings(kind, &format!("{namespace}/{name}"), findings);
    }

    /// Where the tenancy policies come from (`tenancy::WatchedPolicies` in `moat run`).
    pub fn with_policies(mut self, policies: Arc<dyn PolicySource>) -> Self {
        self.policies = policies;
        self
    }

    /// The converger of one reconcile, with the settings, the shared parent locks and the
    /// object's record of what it owns.
    pub fn converger<'a>(
        &'a self,
        arm: &'a dyn Arm,
        owner: &'a Owner,
        ops: &'a OpsTracker,
        events: &'a dyn EventSink,
        recorded: &[ResourceStatus],
    ) -> Converger<'a> {
        Converger::new(arm, owner, ops, events, &self.settings, &self.turns, recorded)
    }
}

/// Publishes events about one object through the shared recorder.
pub struct ObjectEvents<'a> {
    pub recorder: &'a Recorder,
    pub object: k8s_openapi::api::core::v1::ObjectReference,
}

impl EventSink for ObjectEvents<'_> {
    fn publish(&self, warning: bool, reason: &str, action: &str, note: String, about: Option<(&str, &str)>) -> BoxFuture<'_, ()> {
        let ev = Event {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: action.into(),
            secondary: about.map(|(kind, id)| azure_reference(kind, id)),
        };
        Box::pin(async move {
            if let Err(e) = self.recorder.publish(&ev, &self.object).await {
                tracing::warn!(error = %e, "could not publish event");
            }
        })
    }
}

/// The `related` object of an event about an Azure resource: its kind, name and provider
/// namespace (`kubectl describe` and `kubectl events` show them). Events about different
/// resources differ in it, so the recorder keeps one series per resource.
pub fn azure_reference(kind: &str, id: &str) -> k8s_openapi::api::core::v1::ObjectReference {
    let provider = id.split('/').skip_while(|s| !s.eq_ignore_ascii_case("providers")).nth(1).unwrap_or("Microsoft.Resources");
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(format!("{}/arm", provider.to_ascii_lowercase())),
        kind: Some(kind.to_string()),
        name: Some(crate::plan::ids::name_of(id).to_string()),
        field_path: Some(id.chars().take(1024).collect()),
        ..Default::default()
    }
}

/// Merge-patches `status` of an object (the whole status moat computed).
pub async fn patch_status<K>(api: &Api<K>, name: &str, status: &impl Serialize) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({ "status": status });
    let written = api
        .patch_status(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!("patch status of {name}")))?;
    remember_write(&written);
    Ok(())
}

/// The resourceVersion each object (by uid) had right after moat's last status write in this
/// process. When the store's copy has that version, it holds that write: the status is read from
/// it instead of the apiserver ([`current_status`]).
static WRITTEN: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, String>>> = std::sync::LazyLock::new(Default::default);

fn remember_write<K: Resource>(obj: &K) {
    let meta = obj.meta();
    if let (Some(uid), Some(rv)) = (&meta.uid, &meta.resource_version)
        && let Ok(mut w) = WRITTEN.lock()
    {
        w.insert(uid.clone(), rv.clone());
    }
}

/// Forgets an object moat no longer reconciles (its finalizer is gone).
pub fn forget_writes(uid: &str) {
    if let Ok(mut w) = WRITTEN.lock() {
        w.remove(uid);
    }
}

/// True when `obj` (a store copy) is the version moat's last status write produced.
fn holds_last_write<K: Resource>(obj: &K) -> bool {
    let meta = obj.meta();
    match (&meta.uid, &meta.resource_version) {
        (Some(uid), Some(rv)) => WRITTEN.lock().ok().is_some_and(|w| w.get(uid) == Some(rv)),
        _ => false,
    }
}

/// Merge-patches `status` unless only condition transition times would change (a converged
/// object costs no apiserver write either).
pub async fn write_status<K, S>(api: &Api<K>, name: &str, old: Option<&S>, status: &S) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: super::conditions::WithConditions,
{
    if super::conditions::changed(old, status) { patch_status(api, name, status).await } else { Ok(()) }
}

/// The object's status as the apiserver has it now (None when it has none or is gone): from
/// `obj`, the store's copy, when that copy is the version moat's own last status write produced
/// (nobody else writes status), else from a GET, so that the ownership record of children and
/// the in-flight operations are never lost to a cache that has not seen the last write.
pub async fn current_status<K, S>(api: &Api<K>, obj: &K) -> Result<Option<S>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + kube::core::object::HasStatus<Status = S>,
    S: Clone,
{
    if holds_last_write(obj) {
        return Ok(obj.status().cloned());
    }
    let name = obj.meta().name.clone().unwrap_or_default();
    let fresh = api.get_opt(&name).await.map_err(Error::kube(format!("read {name}")))?;
    Ok(fresh.and_then(|o| o.status().cloned()))
}

/// A closure that saves in-flight operations into `status.operations`.
pub fn ops_persister<K>(api: Api<K>, name: String) -> super::converge::PersistOps
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    Box::new(move |ops| {
        let api = api.clone();
        let name = name.clone();
        Box::pin(async move {
            let patch = serde_json::json!({ "status": { "operations": ops } });
            api.patch_status(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
                .await
                .map(|written| remember_write(&written))
                .map_err(|e| e.to_string())
        })
    })
}

/// The finalizer on every object moat reconciles: it stays until cleanup has removed (or, with
/// `deletionPolicy: Orphan`, deliberately left) what moat created in Azure.
pub const FINALIZER: &str = "moat.dev/cleanup";

/// `moat.dev/paused: "true"` on an object stops its reconciliation (as ASO's `reconcile-policy:
/// skip` and Crossplane's `crossplane.io/paused`): moat makes no Azure call for it, deletion
/// included, and says so in Ready (reason `Paused`) until the annotation goes.
pub const PAUSED_ANNOTATION: &str = "moat.dev/paused";

/// True when the object carries `moat.dev/paused: "true"`.
pub fn is_paused<K: Resource>(obj: &K) -> bool {
    obj.meta().annotations.as_ref().and_then(|a| a.get(PAUSED_ANNOTATION)).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The Ready message of a paused object.
pub fn paused_message(deleting: bool) -> String {
    if deleting {
        format!("reconciliation is paused ({PAUSED_ANNOTATION}: \"true\"): deletion waits, and no Azure resource is touched, until the annotation is removed")
    } else {
        format!("reconciliation is paused ({PAUSED_ANNOTATION}: \"true\"): moat makes no Azure call for this object until the annotation is removed")
    }
}

/// Runs `apply` for a live object and `cleanup` for one being deleted, under [`FINALIZER`]
/// (added before the first apply; removed once cleanup returns `Ok`).
pub async fn with_finalizer<K, A, FA, C, FC>(obj: Arc<K>, ctx: &Context, apply: A, cleanup: C) -> Result<kube::runtime::controller::Action>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug + Send + Sync + 'static,
    A: FnOnce(Arc<K>) -> FA,
    FA: std::future::Future<Output = Result<kube::runtime::controller::Action>>,
    C: FnOnce(Arc<K>) -> FC,
    FC: std::future::Future<Output = Result<kube::runtime::controller::Action>>,
{
    use kube::runtime::finalizer::{Event as Finalizer, finalizer};
    let (ns, name) = ns_name(obj.as_ref())?;
    let generation = obj.meta().generation;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    if is_paused(obj.as_ref()) {
        let message = paused_message(obj.meta().deletion_timestamp.is_some());
        tracing::info!(%name, "paused by annotation; no Azure call");
        write_ready(&api, &name, generation, super::conditions::ReadyReason::Paused, &message).await?;
        return Ok(kube::runtime::controller::Action::await_change());
    }
    let deleting = obj.meta().deletion_timestamp.is_some();
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let result = finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            Finalizer::Apply(o) => apply(o).await,
            Finalizer::Cleanup(o) => {
                // An object being deleted has no findings left to report.
                ctx.report_findings(&K::kind(&()), &ns, &o.name_any(), &[]);
                cleanup(o).await
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    if deleting && result.is_ok() {
        // Cleanup ended (the finalizer is gone or going): nothing more is written to it.
        ctx.forget(&uid);
    }
    // Every failure reaches a condition: the Ready reason and a message that is the same for the
    // same failure (request ids go to events and logs), so writing it again changes nothing.
    // A finalizer patch made from an out-of-date copy is looked at again at once, the first time
    // in a row, and says nothing (`Error::is_stale_copy`).
    let first_stale = result.as_ref().err().is_some_and(|e| ctx.first_stale_copy(&uid, e));
    if let Err(e) = &result
        && !e.is_waiting()
        && !first_stale
        && let Err(write) = write_ready(&api, &name, generation, e.ready_reason(), &e.to_string()).await
    {
        tracing::warn!(%name, error = %write, "could not write the failure to status");
    }
    result
}

/// Write-ahead: records in `status.resources` (state `Creating`, owned) what this reconcile is
/// about to create, before the first write, so that a crash between a create and the final status
/// write cannot lose the record that moat created it. Returns the merged list.
pub async fn record_intents<K>(api: &Api<K>, name: &str, recorded: &[ResourceStatus], intents: Vec<ResourceStatus>) -> Result<Vec<ResourceStatus>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut merged = recorded.to_vec();
    let mut added = false;
    for i in intents {
        if !merged.iter().any(|r| r.id.eq_ignore_ascii_case(&i.id) && r.owned) {
            merged.retain(|r| !r.id.eq_ignore_ascii_case(&i.id));
            merged.push(i);
            added = true;
        }
    }
    if added {
        merged.sort_by_key(|r| r.id.to_ascii_lowercase());
        patch_status(api, name, &serde_json::json!({"resources": merged})).await?;
    }
    Ok(merged)
}

/// Sets the Ready condition of an object (keeping its other conditions) when it differs.
pub async fn write_ready<K>(api: &Api<K>, name: &str, generation: Option<i64>, reason: super::conditions::ReadyReason, message: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    let Some(current) = api.get_opt(name).await.map_err(Error::kube(format!("read {name}")))? else { return Ok(()) };
    let value = serde_json::to_value(&current).unwrap_or_default();
    let mut conditions: Vec<Condition> = serde_json::from_value(value["status"]["conditions"].clone()).unwrap_or_default();
    let before = conditions.clone();
    super::conditions::set(&mut conditions, super::conditions::ready(reason, message, generation));
    if super::conditions::same(&before, &conditions) && value["status"]["observedGeneration"].as_i64() == generation {
        return Ok(());
    }
    patch_status(api, name, &serde_json::json!({"conditions": conditions, "observedGeneration": generation})).await
}

/// Namespace and name of an object, or an error.
pub fn ns_name<K: ResourceExt>(obj: &K) -> Result<(String, String)> {
    let ns = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    Ok((ns, obj.name_any()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_of_one_group_resync_at_one_phase_within_half_to_one_and_a_half_periods() {
        let s = Settings { resync: Duration::from_secs(300), ..Settings::default() };
        let period = 300_000u128;
        for now_s in [0u64, 1, 149, 150, 151, 299, 300, 1_000_000, 1_733_400_123] {
            for group in ["team-a/ml-prod", "team-a/ml-dev", "", "x"] {
                let now = Duration::from_secs(now_s) + Duration::from_millis(437);
                let wait = s.aligned_resync(group, now);
                assert!(wait >= Duration::from_secs(150) && wait <= Duration::from_secs(450), "{group} at {now_s}: {wait:?}");
                let at = (now + wait).as_millis();
                assert_eq!(at % period, u128::from(fnv1a(group)) % period, "{group}: the group's phase");
            }
        }
        // Two objects of one group that settle 40 s apart look again at the group's phase, and
        // once both have, at the same instants: a pass that ends a few seconds after the phase
        // is next one period after it.
        let a = Duration::from_secs(1_000);
        let b = Duration::from_secs(1_040);
        let (na, nb) = (a + s.aligned_resync("ns/ws", a), b + s.aligned_resync("ns/ws", b));
        assert_eq!((na.as_millis() as i128 - nb.as_millis() as i128) % period as i128, 0);
        for ran in [Duration::ZERO, Duration::from_secs(3), Duration::from_secs(40)] {
            assert_eq!(na + ran + s.aligned_resync("ns/ws", na + ran), na + s.resync);
        }
        // Groups spread over the period.
        let phases: std::collections::BTreeSet<u128> = (0..50).map(|i| u128::from(fnv1a(&format!("ns/ws-{i}"))) % period / 30_000).collect();
        assert!(phases.len() >= 8, "50 workspaces fall in {} of 10 tenths of the period", phases.len());
    }
}
