//! Resyncs that ask Azure what changed instead of reading everything again.
//!
//! At steady state a resync used to read every resource an object observes (0.7 GETs per
//! managed resource per resync). ARM already records every write, delete and action anyone makes
//! in the Activity Log (`crate::azure::activity`), so a resync of an object whose last pass
//! converged asks the log of the resource groups that pass read, and reads nothing else unless:
//!
//! - the log holds an event, at or after the pass's **baseline**, on a resource the pass read or
//!   wrote, on something inside it (a subnet of its VNet, a rule of its NSG, a link of its zone, a
//!   connection of a binding's target) or on something it is inside (its resource group deleted);
//! - something in Kubernetes the reconcile reads changed since the pass started: every change a
//!   controller's watch passes on (spec, deletion, a related object's readiness, a policy) bumps
//!   the namespace's **epoch**, and a pass records the epoch it started from;
//! - the object changed generation, the pass did not converge, or moat restarted (nothing
//!   recorded: the first pass of each object reads everything);
//! - the backstop: a full read at least once per `full_every` resync periods, for what the log
//!   does not show (a change by the platform itself); it bounds how long one could go unseen.
//!   The periods are counted on the clock (windows of `full_every × resync` since the epoch), so
//!   the objects of a workspace, which resync together, read fully at the same resync and share
//!   those reads;
//! - the log cannot be read (no permission, an error): a full read, as before; nor may it be
//!   when the object's tenancy scope grants it only some resources of a group (a binding's target,
//!   an adopted VNet or NSG in a hub's group), not the group: the group's log would show it the
//!   others' changes.
//!
//! The baseline is the pass's start less `lookback`: the age of a shared answer the pass may have
//! used (`super::shared_reads`) plus an allowance for the clocks of moat and ARM. A pass's own
//! writes fall after its baseline, so the resync after a converging pass reads everything once
//! more, and the next ones are quiet.
//!
//! ARM publishes an event some time after it happened (the **lag**, `--activity-log-lag-seconds`,
//! 300 s by default, plus the clocks' allowance), and a query selects on the time it happened.
//! The first query of a record starts at its baseline; each quiet answer moves the next one to
//! the answer's time less the lag: what was stamped before that was published by then, and
//! none of it concerned the object. An event published later than the lag is left to the
//! backstop. The checks of a resource group share one feed (`super::activity_feed`): it asks
//! ARM only for what may have been published since its last query, and answers from what it
//! keeps, so a query costs the group's last few minutes of events, not everything since the
//! object's last full read.
//!
//! A SecureWorkspace reads no other object's status in its Azure work, and takes what it shows
//! of its bindings' statuses (endpoints and names ready) again at every pass, quiet or not. So
//! its record counts only changes that are more than a status ([`KubeChanges::StatusesIgnored`];
//! the watches tell them apart), and it records once its own Azure steps are all done, its
//! bindings ready or not. A workspace waiting for its bindings then asks the Activity Log, not
//! its six resources, each time one of them reports progress, and asks nothing at all when Azure
//! was seen unchanged less than a resync period ago ([`Verdict::Recent`]): at most one query per
//! period however often its bindings wake it. A resync with no status change since the record
//! (a Ready workspace whose bindings are quiet) asks, as any other object's.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;

use super::arm::{Arm, ArmFailure, Changes, Observed, Polled, Started};
use crate::api::PendingOperation;

/// How far apart the clocks of moat and ARM may be: a baseline lies this much earlier.
pub const CLOCK_ALLOWANCE: Duration = Duration::from_secs(10);

/// How long after an event ARM may publish it in the Activity Log, by default
/// (`--activity-log-lag-seconds`): a query starts this much before the last answer's time.
pub const LOG_LAG: Duration = Duration::from_secs(300);

/// Why a resync reads everything, or that it does not ([`Verdict::Quiet`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The Activity Log shows nothing the object reads changed: no other read.
    Quiet,
    /// Only statuses changed in Kubernetes, which the object's Azure work does not read, and
    /// the Activity Log said nothing changed less than a resync period ago: no read at all
    /// ([`KubeChanges::StatusesIgnored`]).
    Recent,
    /// No converged pass recorded for the object (first pass since start, or the last one did
    /// not converge), or its generation changed.
    Unknown,
    /// Something in Kubernetes the reconcile reads changed.
    Kubernetes,
    /// The Activity Log shows a change to something the object reads.
    Azure,
    /// The last full read was in an earlier backstop window.
    Backstop,
    /// The Activity Log could not be read.
    Error,
    /// The object reads something in a resource group whose log its tenancy scope does not
    /// open (it is granted a resource there, not the group).
    NotInScope,
    /// Change-feed resyncs are off (`full_every` ≤ 1).
    Off,
}

impl Verdict {
    /// The `outcome` label of `moat_resyncs_total`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Quiet => "quiet",
            Verdict::Recent => "recent",
            Verdict::Unknown => "unknown",
            Verdict::Kubernetes => "kubernetes_change",
            Verdict::Azure => "azure_change",
            Verdict::Backstop => "backstop",
            Verdict::Error => "activity_log_error",
            Verdict::NotInScope => "log_not_in_scope",
            Verdict::Off => "off",
        }
    }
}

/// Which changes in Kubernetes make an object's resync read everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KubeChanges {
    /// Any change a controller's watch passes on, statuses included.
    All,
    /// Changes of spec, deletion, labels, annotations or finalizers (and of the ComputeSubnet
    /// states others read), not statuses: for an object whose Azure work reads no other
    /// object's status, and which recomputes what it takes from statuses at every pass (a
    /// SecureWorkspace's readiness from its bindings'). A pass woken by a status change then
    /// reads nothing from Azure when the Activity Log was asked less than a resync period ago.
    StatusesIgnored,
}

#[derive(Clone, Debug)]
struct Record {
    generation: Option<i64>,
    epoch: u64,
    /// The epoch of changes other than statuses ([`KubeChanges::StatusesIgnored`]).
    structural: u64,
    /// When Azure last showed nothing changed: the pass's start, then each quiet answer's time.
    confirmed: Timestamp,
    baseline: Timestamp,
    /// Where the next query starts: the baseline, then each quiet answer's time less the lag
    /// (what ARM may have published since is stamped after it), never before the baseline.
    ask_from: Timestamp,
    /// Lower-cased ids the pass read or wrote.
    ids: Vec<String>,
    /// (subscription, resource group) of those ids.
    groups: Vec<(String, String)>,
    /// The backstop window the pass started in.
    window: i64,
}

/// Where a full pass started: the epoch of its namespace and the time.
#[derive(Clone, Copy, Debug)]
pub struct PassStart {
    epoch: u64,
    structural: u64,
    at: Timestamp,
}

/// The change-feed resync bookkeeping of every object (by uid), shared by the controllers.
pub struct Resyncs {
    /// The backstop window; zero: off.
    window: Duration,
    lookback: Duration,
    /// How long after an event ARM may publish it, the clocks' allowance included.
    lag: Duration,
    /// How long a quiet answer of the Activity Log spares a pass woken by a status change
    /// from asking again: the resync period.
    fresh_for: Duration,
    global: AtomicU64,
    /// Every change passed on, by namespace.
    epochs: Mutex<HashMap<String, u64>>,
    /// The changes that are not statuses only, by namespace.
    structural: Mutex<HashMap<String, u64>>,
    records: Mutex<HashMap<String, Record>>,
    /// Resource groups whose log ARM refused to show (no permission): not asked again for
    /// [`REFUSED_FOR`]; their objects read everything at each resync meanwhile.
    refused: Mutex<HashMap<(String, String), std::time::Instant>>,
}

/// How long a resource group whose Activity Log ARM refused (a 403) is not asked again.
pub const REFUSED_FOR: Duration = Duration::from_secs(3600);

impl Default for Resyncs {
    /// Off: every resync reads everything.
    fn default() -> Self {
        Self::new(1, Duration::ZERO, Duration::ZERO)
    }
}

/// The (subscription, resource group) an id is in; `None` for an id above a resource group.
pub fn group_of(id: &str) -> Option<(String, String)> {
    let mut segs = id.trim_start_matches('/').split('/');
    let (s, sub, r, rg) = (segs.next()?, segs.next()?, segs.next()?, segs.next()?);
    (s.eq_ignore_ascii_case("subscriptions") && r.eq_ignore_ascii_case("resourceGroups") && !sub.is_empty() && !rg.is_empty())
        .then(|| (sub.to_ascii_lowercase(), rg.to_ascii_lowercase()))
}

/// Whether an event on `event` can change what a read of `read` returned (both lower-cased):
/// the same resource, something inside it (a VNet's subnet, a zone's link), or something it is
/// inside (its VNet or resource group deleted). A resource group's or subscription's own read
/// returns its own properties only: the resources in it are other reads.
pub fn related(event: &str, read: &str) -> bool {
    let (event, read) = (event.trim_end_matches('/'), read.trim_end_matches('/'));
    let inside = |inner: &str, outer: &str| inner.len() > outer.len() && inner.starts_with(outer) && inner.as_bytes()[outer.len()] == b'/';
    let is_container = |id: &str| {
        let n = id.trim_start_matches('/').split('/').count();
        n <= 4
    };
    event == read || (inside(event, read) && !is_container(read)) || inside(read, event)
}

impl Resyncs {
    /// A full read at least once per `full_every` periods of `resync` (`full_every` ≤ 1: every
    /// resync, no Activity Log); `lookback`: how long before a pass's start its baseline lies.
    pub fn new(full_every: u32, resync: Duration, lookback: Duration) -> Self {
        let window = if full_every > 1 { resync.saturating_mul(full_every) } else { Duration::ZERO };
        Self {
            window,
            lookback,
            lag: LOG_LAG + CLOCK_ALLOWANCE,
            fresh_for: resync,
            global: AtomicU64::new(0),
            epochs: Mutex::new(HashMap::new()),
            structural: Mutex::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// ARM may publish an Activity Log event up to `lag` after it happened
    /// (`--activity-log-lag-seconds`; the clocks' allowance is added). An event published later
    /// than that may be missed by the queries; the backstop's full read puts its drift back.
    pub fn with_log_lag(mut self, lag: Duration) -> Self {
        self.lag = lag + CLOCK_ALLOWANCE;
        self
    }

    pub fn enabled(&self) -> bool {
        !self.window.is_zero()
    }

    /// The backstop window `at` is in.
    fn window_of(&self, at: Timestamp) -> i64 {
        let w = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX).max(1);
        at.as_millisecond().div_euclid(w)
    }

    /// Something a reconcile reads changed in Kubernetes, in `namespace` (`None`: anywhere, a
    /// policy or a namespace's labels).
    pub fn kube_changed(&self, namespace: Option<&str>) {
        match namespace {
            None => {
                self.global.fetch_add(1, Ordering::SeqCst);
            }
            Some(ns) => {
                bump(&self.epochs, ns);
                bump(&self.structural, ns);
            }
        }
    }

    /// Only the status of an object in `namespace` changed: objects that read statuses
    /// ([`KubeChanges::All`]) read everything at their next resync; the others do not.
    pub fn kube_status_changed(&self, namespace: &str) {
        bump(&self.epochs, namespace);
    }

    fn epoch(&self, namespace: &str) -> u64 {
        self.epoch_of(&self.epochs, namespace)
    }

    fn structural_epoch(&self, namespace: &str) -> u64 {
        self.epoch_of(&self.structural, namespace)
    }

    /// The epochs of `namespace`: (every change, changes other than statuses).
    #[cfg(test)]
    pub(crate) fn epochs_of(&self, namespace: &str) -> (u64, u64) {
        (self.epoch(namespace), self.structural_epoch(namespace))
    }

    fn epoch_of(&self, epochs: &Mutex<HashMap<String, u64>>, namespace: &str) -> u64 {
        let local = epochs.lock().map(|e| e.get(namespace).copied().unwrap_or(0)).unwrap_or(u64::MAX);
        self.global.load(Ordering::SeqCst).wrapping_add(local)
    }

    /// A full pass of an object in `namespace` starts now.
    pub fn start(&self, namespace: &str) -> PassStart {
        self.start_at(namespace, Timestamp::now())
    }

    fn start_at(&self, namespace: &str, at: Timestamp) -> PassStart {
        PassStart { epoch: self.epoch(namespace), structural: self.structural_epoch(namespace), at }
    }

    /// The full pass that started at `start` converged, having read or written `ids`: later
    /// resyncs may ask the Activity Log. Ids outside a resource group make every resync read.
    pub fn converged(&self, uid: &str, generation: Option<i64>, start: PassStart, ids: Vec<String>) {
        if !self.enabled() {
            return;
        }
        let mut groups = BTreeSet::new();
        for id in &ids {
            match group_of(id) {
                Some(g) => {
                    groups.insert(g);
                }
                None => return self.forget(uid),
            }
        }
        let back = jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::ZERO);
        let baseline = start.at.checked_sub(back).unwrap_or(start.at);
        let record = Record { generation, epoch: start.epoch, structural: start.structural, confirmed: start.at, baseline, ask_from: baseline, ids, groups: groups.into_iter().collect(), window: self.window_of(start.at) };
        if let Ok(mut r) = self.records.lock() {
            r.insert(uid.to_string(), record);
        }
    }

    /// The object's last pass did not converge, or it is gone: its next resync reads everything.
    pub fn forget(&self, uid: &str) {
        if let Ok(mut r) = self.records.lock() {
            r.remove(uid);
        }
    }

    /// Whether a resync of the object (`uid`, at `generation`, in `namespace`) may skip its
    /// reads: [`Verdict::Quiet`] when nothing it reads changed since its last converged pass.
    /// `changes`: which changes in Kubernetes count.
    pub async fn check(&self, arm: &dyn Arm, uid: &str, generation: Option<i64>, namespace: &str, changes: KubeChanges) -> Verdict {
        self.check_at(arm, uid, generation, namespace, changes, Timestamp::now()).await
    }

    async fn check_at(&self, arm: &dyn Arm, uid: &str, generation: Option<i64>, namespace: &str, changes: KubeChanges, now: Timestamp) -> Verdict {
        if !self.enabled() {
            return Verdict::Off;
        }
        let Some(rec) = self.records.lock().ok().and_then(|r| r.get(uid).cloned()) else { return Verdict::Unknown };
        if rec.generation != generation {
            return Verdict::Unknown;
        }
        let kube_changed = match changes {
            KubeChanges::All => rec.epoch != self.epoch(namespace),
            KubeChanges::StatusesIgnored => rec.structural != self.structural_epoch(namespace),
        };
        if kube_changed {
            return Verdict::Kubernetes;
        }
        if self.window_of(now) > rec.window {
            return Verdict::Backstop;
        }
        // Woken by a status change less than a period after Azure was last seen unchanged: while
        // statuses change, the log is asked at most once a period (a pass after that asks, and a
        // resync comes at most one and a half periods after the last pass).
        let fresh = jiff::SignedDuration::try_from(self.fresh_for).unwrap_or(jiff::SignedDuration::ZERO);
        if changes == KubeChanges::StatusesIgnored && rec.epoch != self.epoch(namespace) && now < rec.confirmed.checked_add(fresh).unwrap_or(rec.confirmed) {
            return Verdict::Recent;
        }
        if !rec.groups.iter().all(|(sub, rg)| arm.may_read_changes(sub, rg)) {
            return Verdict::NotInScope;
        }
        let refused_lately = self.refused.lock().is_ok_and(|r| {
            rec.groups.iter().any(|g| r.get(g).is_some_and(|at| at.elapsed() < REFUSED_FOR))
        });
        if refused_lately {
            return Verdict::Error;
        }
        let from = rec.ask_from;
        let answers = futures::future::join_all(rec.groups.iter().map(|(sub, rg)| arm.changes(sub, rg, from))).await;
        let mut as_of = now;
        for (a, group) in answers.into_iter().zip(&rec.groups) {
            match a {
                Ok(changes) => {
                    as_of = as_of.min(changes.as_of);
                    let hit = changes.events.iter().find(|e| {
                        e.timestamp >= from && rec.ids.iter().any(|r| related(&e.resource_id.to_ascii_lowercase(), r))
                    });
                    if let Some(e) = hit {
                        tracing::debug!(uid, resource = %e.resource_id, operation = %e.operation, at = %e.timestamp, "the Activity Log shows a change: reading everything");
                        return Verdict::Azure;
                    }
                }
                Err(e) => {
                    if !e.retryable {
                        tracing::warn!(error = %e, "the Activity Log of this resource group cannot be read (grant Microsoft.Insights/eventtypes/values/read, e.g. Monitoring Reader, or set --full-read-every=1): its objects read everything at each resync; asked again in an hour");
                        if let Ok(mut r) = self.refused.lock() {
                            r.insert(group.clone(), std::time::Instant::now());
                        }
                    } else {
                        tracing::debug!(uid, error = %e, "the Activity Log could not be read: reading everything");
                    }
                    return Verdict::Error;
                }
            }
        }
        // Everything stamped before the answers' time less the lag was published by then, and
        // none of it concerns the object: the next query starts there.
        if let Ok(mut r) = self.records.lock()
            && let Some(current) = r.get_mut(uid)
            && current.baseline == rec.baseline
        {
            current.confirmed = current.confirmed.max(as_of);
            current.ask_from = current.ask_from.max(super::activity_feed::before(as_of, self.lag));
        }
        Verdict::Quiet
    }
}

fn bump(epochs: &Mutex<HashMap<String, u64>>, namespace: &str) {
    if let Ok(mut e) = epochs.lock() {
        let n = e.entry(namespace.to_string()).or_default();
        *n = n.wrapping_add(1);
    }
}

/// An [`Arm`] that notes every id a pass reads or writes through it (lower-cased): what its
/// resyncs ask the Activity Log about.
pub struct Noting<'a> {
    inner: &'a dyn Arm,
    ids: Mutex<BTreeSet<String>>,
}

impl<'a> Noting<'a> {
    pub fn new(inner: &'a dyn Arm) -> Self {
        Self { inner, ids: Mutex::new(BTreeSet::new()) }
    }

    fn note(&self, id: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.insert(id.trim_end_matches('/').to_ascii_lowercase());
        }
    }

    /// Every id noted so far.
    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().map(|i| i.iter().cloned().collect()).unwrap_or_default()
    }
}

#[async_trait]
impl Arm for Noting<'_> {
    async fn get(&self, id: &str) -> Result<Option<Value>, ArmFailure> {
        self.note(id);
        self.inner.get(id).await
    }
    async fn list(&self, collection_id: &str) -> Result<Vec<Value>, ArmFailure> {
        self.note(collection_id);
        self.inner.list(collection_id).await
    }
    async fn get_shared(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.note(id);
        self.inner.get_shared(id).await
    }
    async fn list_shared(&self, collection_id: &str) -> Result<Observed<Vec<Value>>, ArmFailure> {
        self.note(collection_id);
        self.inner.list_shared(collection_id).await
    }
    async fn get_lasting(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.note(id);
        self.inner.get_lasting(id).await
    }
    async fn get_infrastructure(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.note(id);
        self.inner.get_infrastructure(id).await
    }
    async fn write(&self, method: &str, id: &str, body: &Value) -> Result<Started, ArmFailure> {
        self.note(id);
        self.inner.write(method, id, body).await
    }
    fn can_create_only(&self, id: &str) -> bool {
        self.inner.can_create_only(id)
    }
    async fn create_only(&self, id: &str, body: &Value) -> Result<Option<Started>, ArmFailure> {
        self.note(id);
        self.inner.create_only(id, body).await
    }
    async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
        self.note(id);
        self.inner.delete(id).await
    }
    async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
        self.note(&op.resource_id);
        self.inner.poll(op).await
    }
    async fn poll_status(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
        self.note(&op.resource_id);
        self.inner.poll_status(op).await
    }
    fn may_read_changes(&self, subscription: &str, resource_group: &str) -> bool {
        self.inner.may_read_changes(subscription, resource_group)
    }
    async fn changes(&self, subscription: &str, resource_group: &str, since: Timestamp) -> Result<Changes, ArmFailure> {
        self.inner.changes(subscription, resource_group, since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::activity::ActivityEvent;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    const VNET: &str = "/subscriptions/s1/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet";
    const RG: &str = "/subscriptions/s1/resourceGroups/rg-net";

    /// An Activity Log and nothing else.
    #[derive(Default)]
    struct Log {
        events: Mutex<Vec<ActivityEvent>>,
        /// The `since` of every query.
        asked_from: Mutex<Vec<Timestamp>>,
        /// The time its answers are stamped with (default: now).
        clock: Mutex<Option<Timestamp>>,
        fail: std::sync::atomic::AtomicBool,
        asked: AtomicU32,
    }

    impl Log {
        fn set_clock(&self, at: Timestamp) {
            *self.clock.lock().expect("lock") = Some(at);
        }

        fn write(&self, id: &str, at: Timestamp) {
            let e = ActivityEvent { resource_id: id.into(), timestamp: at, operation: "x/write".into(), status: "Succeeded".into() };
            self.events.lock().expect("lock").push(e);
        }
    }

    #[async_trait]
    impl Arm for Log {
        async fn get(&self, id: &str) -> Result<Option<Value>, ArmFailure> {
            Err(ArmFailure::local("GET", id, "Unexpected", "no reads here"))
        }
        async fn list(&self, id: &str) -> Result<Vec<Value>, ArmFailure> {
            Err(ArmFailure::local("GET", id, "Unexpected", "no reads here"))
        }
        async fn write(&self, method: &str, id: &str, _: &Value) -> Result<Started, ArmFailure> {
            Err(ArmFailure::local(method, id, "Unexpected", "no writes here"))
        }
        async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
            Err(ArmFailure::local("DELETE", id, "Unexpected", "no writes here"))
        }
        async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
            Err(ArmFailure::local("GET", &op.resource_id, "Unexpected", "no polls here"))
        }
        async fn changes(&self, sub: &str, rg: &str, since: Timestamp) -> Result<Changes, ArmFailure> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(ArmFailure::local("GET", &format!("/subscriptions/{sub}/resourceGroups/{rg}"), "AuthorizationFailed", "no"));
            }
            self.asked_from.lock().expect("lock").push(since);
            let as_of = self.clock.lock().expect("lock").unwrap_or_else(Timestamp::now);
            let all = self.events.lock().expect("lock").clone();
            Ok(Changes { events: Arc::new(all.into_iter().filter(|e| e.timestamp >= since).collect()), as_of })
        }
    }

    /// A second into the current backstop window of `window_secs`: a test's times stay in it.
    fn window_start(window_secs: i64) -> Timestamp {
        let w = window_secs * 1000;
        Timestamp::from_millisecond(Timestamp::now().as_millisecond().div_euclid(w) * w + 1000).expect("time")
    }

    fn converged(r: &Resyncs, uid: &str, ids: &[&str]) {
        let start = r.start("ns");
        r.converged(uid, Some(1), start, ids.iter().map(|i| i.to_ascii_lowercase()).collect());
    }

    /// Resyncs every 100 s, a full read every 3 (a 300 s backstop window).
    fn every_third(lookback: u64) -> Resyncs {
        Resyncs::new(3, Duration::from_secs(100), Duration::from_secs(lookback))
    }

    #[test]
    fn an_event_concerns_the_read_resource_what_is_in_it_and_what_it_is_in() {
        let vnet = VNET.to_ascii_lowercase();
        assert!(related(&vnet, &vnet));
        assert!(related(&format!("{vnet}/subnets/train"), &vnet), "a subnet written changes the VNet's body");
        assert!(related(&RG.to_ascii_lowercase(), &vnet), "the resource group deleted takes the VNet");
        assert!(!related(&format!("{vnet}2"), &vnet), "another VNet whose name starts the same");
        assert!(!related(&vnet, &RG.to_ascii_lowercase()), "a resource group's read is its own properties, not what is in it");
        assert!(!related("/subscriptions/s1/resourcegroups/rg-other", &vnet));
        assert_eq!(group_of(VNET), Some(("s1".into(), "rg-net".into())));
        assert_eq!(group_of("/subscriptions/s1"), None);
    }

    #[tokio::test]
    async fn a_converged_object_reads_only_the_log_until_something_it_read_changes() {
        let r = Resyncs::new(12, Duration::from_secs(300), Duration::from_secs(30));
        let log = Log::default();
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Unknown, "nothing recorded: read everything");
        converged(&r, "u", &[VNET, RG]);
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Quiet);
        assert_eq!(log.asked.load(Ordering::SeqCst), 1, "one resource group, one query");
        // Someone else's resource in the same group: still quiet.
        log.write("/subscriptions/s1/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/other", Timestamp::now());
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Quiet);
        // A subnet of the VNet written in the portal: read everything.
        log.write(&format!("{VNET}/subnets/added"), Timestamp::now());
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Azure);
        // A new generation is a new spec.
        converged(&r, "u2", &[VNET]);
        assert_eq!(r.check(&log, "u2", Some(2), "ns", KubeChanges::All).await, Verdict::Unknown);
    }

    #[tokio::test]
    async fn a_status_change_spares_an_object_that_ignores_statuses_while_azure_was_seen_unchanged_lately() {
        // Resyncs every 100 s, no backstop in this test's time: quiet answers spare 100 s.
        let r = Resyncs::new(1000, Duration::from_secs(100), Duration::ZERO);
        let log = Log::default();
        let t0 = window_start(100_000);
        let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
        r.converged("ws", Some(1), r.start_at("ns", t0), vec![VNET.to_ascii_lowercase()]);
        r.converged("peb", Some(1), r.start_at("ns", t0), vec![VNET.to_ascii_lowercase()]);
        // A binding's status changed: an object that reads statuses reads everything; one that
        // takes them again at every pass reads nothing, not even the log, while Azure's last
        // quiet answer (here the pass itself) is less than a resync period old.
        r.kube_status_changed("ns");
        assert_eq!(r.check_at(&log, "peb", Some(1), "ns", KubeChanges::All, at(10)).await, Verdict::Kubernetes);
        assert_eq!(r.check_at(&log, "ws", Some(1), "ns", KubeChanges::StatusesIgnored, at(10)).await, Verdict::Recent);
        assert_eq!(log.asked.load(Ordering::SeqCst), 0);
        // A period later, the log is asked; its quiet answer spares the next period again.
        log.set_clock(at(110));
        assert_eq!(r.check_at(&log, "ws", Some(1), "ns", KubeChanges::StatusesIgnored, at(110)).await, Verdict::Quiet);
        assert_eq!(log.asked.load(Ordering::SeqCst), 1);
        assert_eq!(r.check_at(&log, "ws", Some(1), "ns", KubeChanges::StatusesIgnored, at(200)).await, Verdict::Recent);
        assert_eq!(log.asked.load(Ordering::SeqCst), 1);
        // A resync with nothing changed in Kubernetes asks the log however recent the answer.
        r.converged("quiet-ns", Some(1), r.start_at("other", t0), vec![VNET.to_ascii_lowercase()]);
        assert_eq!(r.check_at(&log, "quiet-ns", Some(1), "other", KubeChanges::StatusesIgnored, at(1)).await, Verdict::Quiet);
        assert_eq!(log.asked.load(Ordering::SeqCst), 2);
        // What Azure shows changed is seen whenever the log is asked.
        log.write(VNET, at(120));
        assert_eq!(r.check_at(&log, "ws", Some(1), "ns", KubeChanges::StatusesIgnored, at(211)).await, Verdict::Azure);
        // Anything more than a status (a spec, an object added or deleted, a policy) reads.
        r.converged("ws", Some(1), r.start_at("ns", at(300)), vec![VNET.to_ascii_lowercase()]);
        r.kube_changed(Some("ns"));
        assert_eq!(r.check_at(&log, "ws", Some(1), "ns", KubeChanges::StatusesIgnored, at(301)).await, Verdict::Kubernetes);
        r.converged("ws", Some(1), r.start_at("ns", at(400)), vec![VNET.to_ascii_lowercase()]);
        r.kube_changed(None);
        assert_eq!(r.check_at(&log, "ws", Some(1), "ns", KubeChanges::StatusesIgnored, at(401)).await, Verdict::Kubernetes);
    }

    #[tokio::test]
    async fn a_quiet_answer_moves_the_next_query_to_its_time_less_the_lag_so_a_late_event_still_counts() {
        // Passes may use answers 20 s old; ARM publishes an event up to 60 s late (70 s with the
        // clocks' allowance).
        let r = Resyncs::new(1000, Duration::from_secs(100), Duration::from_secs(20)).with_log_lag(Duration::from_secs(60));
        let log = Log::default();
        let t0 = window_start(100_000);
        let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
        r.converged("u", Some(1), r.start_at("ns", t0), vec![VNET.to_ascii_lowercase()]);
        // The first query starts at the baseline; each quiet answer moves the next one to its
        // time less the lag, never before the baseline.
        log.set_clock(at(40));
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(40)).await, Verdict::Quiet);
        log.set_clock(at(200));
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(200)).await, Verdict::Quiet);
        assert_eq!(log.asked_from.lock().expect("lock").clone(), vec![at(-20), at(-20)]);
        // A change at 150 s that ARM publishes only after the answer of 200 s: the next query
        // starts at 130 s and sees it.
        log.write(VNET, at(150));
        log.set_clock(at(300));
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(300)).await, Verdict::Azure);
        assert_eq!(log.asked_from.lock().expect("lock").last().copied(), Some(at(130)));
        // One published more than the lag late is left to the backstop's full read.
        r.converged("u", Some(1), r.start_at("ns", at(400)), vec![VNET.to_ascii_lowercase()]);
        log.set_clock(at(600));
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(600)).await, Verdict::Quiet);
        log.write(VNET, at(520));
        log.set_clock(at(700));
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(700)).await, Verdict::Quiet);
        assert_eq!(log.asked_from.lock().expect("lock").last().copied(), Some(at(530)));
    }

    #[tokio::test]
    async fn a_change_in_kubernetes_a_backstop_or_an_unreadable_log_reads_everything() {
        let r = every_third(0);
        let log = Log::default();
        converged(&r, "u", &[VNET]);
        r.kube_changed(Some("other-ns"));
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Quiet, "another namespace's change is not this object's");
        r.kube_changed(Some("ns"));
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Kubernetes);
        converged(&r, "u", &[VNET]);
        r.kube_changed(None);
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Kubernetes, "a policy change concerns every namespace");
        // The backstop windows are on the clock: every object whose last full read is in an
        // earlier window reads fully at its first resync in this one.
        let w = 300_000;
        let t0 = Timestamp::from_millisecond((Timestamp::now().as_millisecond().div_euclid(w) - 1) * w + 10).expect("time");
        r.converged("u", Some(1), r.start_at("ns", t0), vec![VNET.to_ascii_lowercase()]);
        let at = |ms: i64| t0 + jiff::SignedDuration::from_millis(ms);
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(100_000)).await, Verdict::Quiet);
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(200_000)).await, Verdict::Quiet);
        assert_eq!(r.check_at(&log, "u", Some(1), "ns", KubeChanges::All, at(299_995)).await, Verdict::Backstop, "the next window reads everything");
        converged(&r, "u", &[VNET]);
        log.fail.store(true, Ordering::SeqCst);
        let asked = log.asked.load(Ordering::SeqCst);
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Error);
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Error);
        assert_eq!(log.asked.load(Ordering::SeqCst), asked + 1, "a log ARM refused to show is not asked again at the next resync");
        assert_eq!(Resyncs::default().check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Off);
    }

    #[tokio::test]
    async fn the_baseline_lies_before_the_pass_so_a_late_published_event_still_counts() {
        // An answer the pass reused may be 150 s old: a change 100 s before the pass started
        // may not be in what it read.
        let r = Resyncs::new(12, Duration::from_secs(300), Duration::from_secs(160));
        let log = Log::default();
        converged(&r, "u", &[VNET]);
        log.write(VNET, Timestamp::now() - jiff::SignedDuration::from_secs(100));
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Azure);
        // One from before the baseline is what the pass read.
        let r = Resyncs::new(12, Duration::from_secs(300), Duration::ZERO);
        let log = Log::default();
        log.write(VNET, Timestamp::now() - jiff::SignedDuration::from_secs(120));
        converged(&r, "u", &[VNET]);
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Quiet);
    }

    #[tokio::test]
    async fn a_group_the_scope_does_not_open_is_never_asked() {
        use crate::tenancy::scope::{Access, EffectiveScope};
        use crate::tenancy::scoped_arm::ScopedArm;
        let r = Resyncs::new(12, Duration::from_secs(300), Duration::ZERO);
        let log = Arc::new(Log::default());
        // The VNet is granted (adopted), not its group.
        let scope = EffectiveScope::new([(VNET.to_string(), Access::Children, "spec.vnet.id".to_string())]);
        let scoped = ScopedArm::new(log.clone(), scope, "https://management.azure.com".parse().expect("url"));
        converged(&r, "u", &[VNET]);
        assert_eq!(r.check(&scoped, "u", Some(1), "ns", KubeChanges::All).await, Verdict::NotInScope);
        assert_eq!(log.asked.load(Ordering::SeqCst), 0, "nothing sent");
        let scope = EffectiveScope::new([(RG.to_string(), Access::Full, "spec.resourceGroup".to_string())]);
        let scoped = ScopedArm::new(log.clone(), scope, "https://management.azure.com".parse().expect("url"));
        assert_eq!(r.check(&scoped, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Quiet);
    }

    #[tokio::test]
    async fn ids_outside_a_resource_group_leave_nothing_to_ask() {
        let r = Resyncs::new(12, Duration::from_secs(300), Duration::ZERO);
        let log = Log::default();
        converged(&r, "u", &[VNET, "/subscriptions/s1"]);
        assert_eq!(r.check(&log, "u", Some(1), "ns", KubeChanges::All).await, Verdict::Unknown);
        assert_eq!(log.asked.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn noting_records_every_id_read_or_written() {
        let log = Log::default();
        let noting = Noting::new(&log);
        let _ = noting.get(VNET).await;
        let _ = noting.list(&format!("{VNET}/subnets/")).await;
        let _ = noting.delete(RG).await;
        assert_eq!(noting.ids(), vec![RG.to_ascii_lowercase(), VNET.to_ascii_lowercase(), format!("{}/subnets", VNET.to_ascii_lowercase())]);
    }
}
