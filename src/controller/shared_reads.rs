//! Reads shared by every reconcile that uses one credential: the ARM economy of steady state.
//!
//! Eight objects of one workspace each observe the same VNet, storage account and vault; read on
//! their own, the VNet costs eight GETs per resync. [`SharedReads`] sits between the reconciles
//! and the ARM client and answers the *observe* reads ([`Arm::get_shared`], [`Arm::list_shared`]):
//!
//! - a read of an id already in flight is joined, never sent twice;
//! - at steady state ([`Priority::Steady`], an object Ready for its generation) an answer at
//!   most `steady_max_age` old is reused (half the resync period in `moat run`, and the objects of
//!   one workspace resync together: `Context::next_pass`), so each resource is read about once per
//!   resync whatever the number of objects that look at it;
//! - so do the reads of a workspace whose own Azure resources are settled for its generation
//!   (every one `Succeeded`, no operation running) while it waits for its bindings, set per
//!   reconcile with [`with_settled`];
//! - converging work never reuses an old answer, but for [`Arm::get_lasting`]: that something a
//!   reconcile needs but does not manage exists (a resource group, a binding's target or VNet)
//!   may be an answer a few seconds old, so the reconciles of a workspace that start together
//!   read it once; and for [`Arm::get_infrastructure`]: that a privatelink zone exists, which
//!   every binding of the fleet that uses it reads and moat writes nothing to once it exists, may
//!   be an answer as old as a steady-state one. An absence is never reused.
//!
//! Every write, deletion and finished operation forgets what it may have changed (the resource,
//! the parent that lists it, the collections and record lists it touches) before and after it
//! runs, and an answer that started before such a change is never kept. Plain [`Arm::get`] and
//! [`Arm::list`] (confirmations, waits on busy resources, a deletion's second look) always go to
//! ARM; their answers refresh what later observe reads may reuse. A reconcile that would write
//! on the strength of a reused answer reads again first (`workspace::observe_for_plan`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::Value;
use tokio::time::Instant;

use super::activity_feed::{Feed, FeedConfig, Plan};
use super::arm::{Arm, ArmFailure, Changes, Observed, Polled, Started};
use crate::api::PendingOperation;
use crate::azure::ObserverHandle;
use crate::azure::pacing::{Priority, current_priority};
use crate::plan::reads::{Read, read_of};

tokio::task_local! {
    static SETTLED: bool;
}

/// Runs `fut` (one reconcile) knowing whether its object's own Azure resources are settled for
/// its generation: if so, its observe reads may reuse recent answers as at steady state.
pub async fn with_settled<F: std::future::Future>(settled: bool, fut: F) -> F::Output {
    SETTLED.scope(settled, fut).await
}

/// True when an object's status says its own Azure resources are settled for `generation`:
/// it recorded them all `Succeeded` at this generation and no operation is running.
pub fn is_settled(generation: Option<i64>, observed_generation: Option<i64>, resources: &[crate::api::ResourceStatus], operations: &[PendingOperation]) -> bool {
    generation.is_some() && generation == observed_generation && operations.is_empty() && !resources.is_empty() && resources.iter().all(|r| r.state == "Succeeded")
}

type GetResult = Result<Option<Value>, ArmFailure>;
/// A read in flight, shared by every observe read of its key: when it started, and its answer.
type InFlight<T> = (Instant, Shared<BoxFuture<'static, Result<T, ArmFailure>>>);
type ListResult = Result<Vec<Value>, ArmFailure>;

struct Entry<T> {
    value: T,
    at: Instant,
}

#[derive(Default)]
struct State {
    gets: HashMap<String, Entry<Option<Value>>>,
    lists: HashMap<String, Entry<Vec<Value>>>,
    inflight_gets: HashMap<String, InFlight<Option<Value>>>,
    inflight_lists: HashMap<String, InFlight<Vec<Value>>>,
    /// When each key was last forgotten: an answer that started before that is not kept.
    forgotten: HashMap<String, Instant>,
    last_sweep: Option<Instant>,
}

/// How old an answer that something lasting exists ([`Arm::get_lasting`]: a resource group, a
/// binding's target or VNet) may be for converging work: the reconciles of one workspace that
/// start together read it once.
const CONVERGING_LASTING_AGE: Duration = Duration::from_secs(5);

/// How long a mark in `forgotten` matters: longer than any read stays in flight.
const FORGET_MARK: Duration = Duration::from_secs(600);

impl State {
    fn forget(&mut self, key: &str, now: Instant) {
        self.gets.remove(key);
        self.lists.remove(key);
        self.inflight_gets.remove(key);
        self.inflight_lists.remove(key);
        self.forgotten.insert(key.to_string(), now);
    }

    /// Forgets every key `pred` selects (cached, in flight, and marked).
    fn forget_where(&mut self, now: Instant, pred: impl Fn(&str) -> bool) {
        let keys: Vec<String> = self
            .gets
            .keys()
            .chain(self.lists.keys())
            .chain(self.inflight_gets.keys())
            .chain(self.inflight_lists.keys())
            .filter(|k| pred(k))
            .cloned()
            .collect();
        for k in keys {
            self.forget(&k, now);
        }
    }

    /// Drops answers too old to be reused and marks too old to matter, at most once per
    /// `max_age / 2`: the cache holds about one resync's worth of reads, not every read ever made.
    fn sweep(&mut self, now: Instant, max_age: Duration) {
        if self.last_sweep.is_some_and(|t| now.duration_since(t) < max_age / 2) {
            return;
        }
        self.last_sweep = Some(now);
        self.gets.retain(|_, e| now.duration_since(e.at) <= max_age);
        self.lists.retain(|_, e| now.duration_since(e.at) <= max_age);
        self.forgotten.retain(|_, t| now.duration_since(*t) <= FORGET_MARK.max(max_age));
    }

    fn keeps(&self, key: &str, started: Instant) -> bool {
        self.forgotten.get(key).is_none_or(|t| *t < started)
    }
}

/// Counts of what the shared reads saved (for tests and the benchmark).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SharedReadCounts {
    /// Observe reads answered by a recent answer (no request).
    pub reused: u64,
    /// Observe reads that joined a read in flight (no request of their own).
    pub joined: u64,
    /// Observe reads that went to ARM.
    pub sent: u64,
}

/// An [`Arm`] that shares observe reads between reconciles (see the module documentation).
pub struct SharedReads {
    inner: Arc<dyn Arm>,
    steady_max_age: Duration,
    /// How old an answer that something lasting exists may be for converging work
    /// ([`CONVERGING_LASTING_AGE`], never more than `steady_max_age`).
    lasting_converging_age: Duration,
    observer: ObserverHandle,
    state: Mutex<State>,
    counts: Mutex<SharedReadCounts>,
    /// Each resource group's Activity Log feed (lower-cased `sub/rg`), behind an async lock: the
    /// checks of one group wait for each other, the first asks, the others take its answer.
    activity: Mutex<HashMap<String, ActivitySlot>>,
    /// How the feeds query and what they keep.
    feed: FeedConfig,
}

/// One resource group's Activity Log feed.
type ActivitySlot = Arc<tokio::sync::Mutex<Option<Feed>>>;

impl SharedReads {
    /// Shares the reads of `inner`; at steady state an answer is reused for `steady_max_age`.
    pub fn new(inner: Arc<dyn Arm>, steady_max_age: Duration) -> Self {
        Self {
            inner,
            steady_max_age,
            lasting_converging_age: CONVERGING_LASTING_AGE.min(steady_max_age),
            observer: ObserverHandle::default(),
            state: Mutex::new(State::default()),
            counts: Mutex::new(SharedReadCounts::default()),
            activity: Mutex::new(HashMap::new()),
            feed: FeedConfig::for_steady_age(steady_max_age, super::resync::LOG_LAG + super::resync::CLOCK_ALLOWANCE),
        }
    }

    /// ARM may publish an Activity Log event up to `lag` after it happened (`--activity-log-lag-seconds`).
    pub fn with_log_lag(mut self, lag: Duration) -> Self {
        self.feed = FeedConfig::for_steady_age(self.steady_max_age, lag + super::resync::CLOCK_ALLOWANCE);
        self
    }

    #[cfg(test)]
    fn with_feed(mut self, feed: FeedConfig) -> Self {
        self.feed = feed;
        self
    }

    #[cfg(test)]
    fn with_lasting_converging_age(mut self, age: Duration) -> Self {
        self.lasting_converging_age = age.min(self.steady_max_age);
        self
    }

    /// Reports every observe read to `observer` (`moat_arm_observe_reads` in `moat run`).
    pub fn with_observer(mut self, observer: ObserverHandle) -> Self {
        self.observer = observer;
        self
    }

    pub fn counts(&self) -> SharedReadCounts {
        self.counts.lock().map(|c| *c).unwrap_or_default()
    }

    fn count(&self, f: impl FnOnce(&mut SharedReadCounts)) {
        if let Ok(mut c) = self.counts.lock() {
            f(&mut c);
        }
    }

    /// An answer that `id` exists at most `age` old, else a read (joining one in flight): never
    /// an older absence.
    async fn existing(&self, id: &str, age: Duration) -> Result<Observed<Option<Value>>, ArmFailure> {
        let key = id.to_ascii_lowercase();
        let now = Instant::now();
        let seen = self.state.lock().ok().and_then(|s| s.gets.get(&key).filter(|e| e.value.is_some() && now.duration_since(e.at) <= age).map(|e| e.value.clone()));
        if let Some(value) = seen {
            self.count(|c| c.reused += 1);
            self.observer.get().observe_read(id, "reused");
            return Ok(Observed { value, reused: true });
        }
        // Joins a read in flight, never reuses an older answer (an absence).
        let (inner, owned) = (self.inner.clone(), id.to_string());
        let maps = Maps { done: |s: &mut State| &mut s.gets, inflight: |s: &mut State| &mut s.inflight_gets };
        self.observe(id, maps, move || async move { inner.get(&owned).await }.boxed(), None).await
    }

    /// After a refused write: what `id` lives in (a zone whose link ARM refused, say because the
    /// zone is gone) is read again, not taken from an answer that may say it is there.
    fn forget_container_if_failed(&self, id: &str, failed: bool) {
        if !failed {
            return;
        }
        if let (Some(container), Ok(mut s)) = (crate::plan::reads::container_of(id), self.state.lock()) {
            s.forget(&container.to_ascii_lowercase(), Instant::now());
        }
    }

    fn max_age(&self) -> Option<Duration> {
        let settled = SETTLED.try_with(|s| *s).unwrap_or(false);
        (settled || current_priority() == Priority::Steady).then_some(self.steady_max_age)
    }

    /// Forgets what a write or deletion of `id` may change: the resource and everything under it,
    /// the parent that lists it, the collection it is listed in, and the record lists of the
    /// private DNS zones a private endpoint or its zone group fills.
    fn forget_for(&self, id: &str) {
        let key = id.to_ascii_lowercase();
        let now = Instant::now();
        let Ok(mut s) = self.state.lock() else { return };
        let below = format!("{key}/");
        s.forget_where(now, |k| k == key || k.starts_with(&below));
        s.forget(&key, now);
        match read_of(id) {
            Read::InParent { parent, .. } => s.forget(&parent.to_ascii_lowercase(), now),
            Read::Own => {}
        }
        // The collection it is listed in.
        if let Some((collection, _)) = key.rsplit_once('/') {
            s.forget(collection, now);
        }
        if key.contains("/providers/microsoft.network/privateendpoints/") {
            // The A record sets its zone group fills (each read on its own, or a zone's list).
            s.forget_where(now, |k| k.contains("/providers/microsoft.network/privatednszones/") && (k.ends_with("/a") || k.contains("/a/")));
        }
    }

    /// Keeps a fresh answer of a plain read for later observe reads.
    fn keep_get(&self, key: &str, started: Instant, value: &Option<Value>) {
        if let Ok(mut s) = self.state.lock()
            && s.keeps(key, started)
        {
            s.sweep(started, self.steady_max_age);
            s.gets.insert(key.to_string(), Entry { value: value.clone(), at: started });
        }
    }

    fn keep_list(&self, key: &str, started: Instant, value: &[Value]) {
        if let Ok(mut s) = self.state.lock()
            && s.keeps(key, started)
        {
            s.sweep(started, self.steady_max_age);
            s.lists.insert(key.to_string(), Entry { value: value.to_vec(), at: started });
        }
    }
}

/// The maps of one kind of read (GETs or LISTs) in [`State`].
struct Maps<T: Clone + Send + Sync + 'static> {
    done: fn(&mut State) -> &mut HashMap<String, Entry<T>>,
    inflight: fn(&mut State) -> &mut HashMap<String, InFlight<T>>,
}

impl SharedReads {
    /// One observe read of `key`: an answer at most the steady max age old, a read in flight, or
    /// a new one (`send`). Whoever sees the read end first takes it off the in-flight map and
    /// keeps its answer unless the key was forgotten since it started.
    async fn observe<T: Clone + Send + Sync + 'static>(
        &self,
        id: &str,
        maps: Maps<T>,
        send: impl FnOnce() -> BoxFuture<'static, Result<T, ArmFailure>>,
        max_age: Option<Duration>,
    ) -> Result<Observed<T>, ArmFailure> {
        let key = id.to_ascii_lowercase();
        let now = Instant::now();
        let (started, f) = {
            let Ok(mut s) = self.state.lock() else { return send().await.map(Observed::fresh) };
            let recent = max_age.and_then(|age| (maps.done)(&mut s).get(&key).filter(|e| now.duration_since(e.at) <= age).map(|e| e.value.clone()));
            if let Some(value) = recent {
                drop(s);
                self.count(|c| c.reused += 1);
                self.observer.get().observe_read(id, "reused");
                return Ok(Observed { value, reused: true });
            }
            match (maps.inflight)(&mut s).get(&key) {
                Some((t, f)) => {
                    self.count(|c| c.joined += 1);
                    self.observer.get().observe_read(id, "joined");
                    (*t, f.clone())
                }
                None => {
                    let f = send().shared();
                    (maps.inflight)(&mut s).insert(key.clone(), (now, f.clone()));
                    self.count(|c| c.sent += 1);
                    self.observer.get().observe_read(id, "sent");
                    (now, f)
                }
            }
        };
        let r = f.await;
        if let Ok(mut s) = self.state.lock() {
            if (maps.inflight)(&mut s).get(&key).is_some_and(|(t, _)| *t == started) {
                (maps.inflight)(&mut s).remove(&key);
            }
            if let Ok(v) = &r
                && s.keeps(&key, started)
            {
                s.sweep(started, self.steady_max_age);
                (maps.done)(&mut s).insert(key, Entry { value: v.clone(), at: started });
            }
        }
        r.map(Observed::fresh)
    }
}

#[async_trait]
impl Arm for SharedReads {
    async fn get(&self, id: &str) -> GetResult {
        let started = Instant::now();
        let r = self.inner.get(id).await;
        if let Ok(v) = &r {
            self.keep_get(&id.to_ascii_lowercase(), started, v);
        }
        r
    }

    async fn list(&self, collection_id: &str) -> ListResult {
        let started = Instant::now();
        let r = self.inner.list(collection_id).await;
        if let Ok(v) = &r {
            self.keep_list(&collection_id.to_ascii_lowercase(), started, v);
        }
        r
    }

    async fn get_shared(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        let (inner, owned) = (self.inner.clone(), id.to_string());
        let maps = Maps { done: |s: &mut State| &mut s.gets, inflight: |s: &mut State| &mut s.inflight_gets };
        self.observe(id, maps, move || async move { inner.get(&owned).await }.boxed(), self.max_age()).await
    }

    async fn get_lasting(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.existing(id, self.max_age().unwrap_or(self.lasting_converging_age)).await
    }

    async fn get_infrastructure(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.existing(id, self.steady_max_age).await
    }

    async fn list_shared(&self, collection_id: &str) -> Result<Observed<Vec<Value>>, ArmFailure> {
        let (inner, owned) = (self.inner.clone(), collection_id.to_string());
        let maps = Maps { done: |s: &mut State| &mut s.lists, inflight: |s: &mut State| &mut s.inflight_lists };
        self.observe(collection_id, maps, move || async move { inner.list(&owned).await }.boxed(), self.max_age()).await
    }

    async fn write(&self, method: &str, id: &str, body: &Value) -> Result<Started, ArmFailure> {
        self.forget_for(id);
        let r = self.inner.write(method, id, body).await;
        self.forget_for(id);
        self.forget_container_if_failed(id, r.is_err());
        r
    }

    fn can_create_only(&self, id: &str) -> bool {
        self.inner.can_create_only(id)
    }

    async fn create_only(&self, id: &str, body: &Value) -> Result<Option<Started>, ArmFailure> {
        self.forget_for(id);
        let r = self.inner.create_only(id, body).await;
        self.forget_for(id);
        self.forget_container_if_failed(id, r.is_err());
        r
    }

    async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
        self.forget_for(id);
        let r = self.inner.delete(id).await;
        self.forget_for(id);
        r
    }

    async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
        let r = self.inner.poll(op).await;
        if matches!(r, Ok(Polled::Done(_))) {
            self.forget_for(&op.resource_id);
        }
        r
    }

    async fn poll_status(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
        let r = self.inner.poll_status(op).await;
        if matches!(r, Ok(Polled::Done(_))) {
            self.forget_for(&op.resource_id);
        }
        r
    }

    fn may_read_changes(&self, subscription: &str, resource_group: &str) -> bool {
        self.inner.may_read_changes(subscription, resource_group)
    }

    async fn changes(&self, subscription: &str, resource_group: &str, since: jiff::Timestamp) -> Result<Changes, ArmFailure> {
        let key = format!("{subscription}/{resource_group}").to_ascii_lowercase();
        let slot = self.activity.lock().map(|mut m| m.entry(key).or_default().clone()).ok();
        let Some(slot) = slot else { return self.inner.changes(subscription, resource_group, since).await };
        // Checks of one resource group wait for each other: the first asks, the others reuse.
        let mut feed = slot.lock().await;
        let now = Instant::now();
        match Feed::plan(feed.as_ref(), since, now, &self.feed) {
            Plan::Reuse(changes) => {
                self.count(|c| c.reused += 1);
                Ok(changes)
            }
            Plan::Query { from, incremental } => {
                let answer = self.inner.changes(subscription, resource_group, from).await?;
                let (kept, given) = Feed::merge(feed.as_ref(), from, incremental, answer, now, &self.feed);
                *feed = Some(kept);
                Ok(given)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::pacing::with_priority;
    use serde_json::json;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Answers every GET with a body carrying a counter, after a short wait.
    #[derive(Default)]
    struct Counting {
        gets: AtomicU64,
        lists: AtomicU64,
        changes: AtomicU64,
        /// The `since` of every Activity Log query, and the log it answers from.
        changes_from: std::sync::Mutex<Vec<jiff::Timestamp>>,
        log: std::sync::Mutex<Vec<crate::azure::activity::ActivityEvent>>,
        /// Ids that answer 404.
        absent: std::sync::Mutex<Vec<String>>,
        /// Every write is refused (ARM's 404 for a parent that is gone).
        refuse_writes: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl Arm for Counting {
        async fn get(&self, id: &str) -> GetResult {
            let n = self.gets.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.absent.lock().expect("lock").iter().any(|a| a == id) {
                return Ok(None);
            }
            Ok(Some(json!({"id": id, "n": n})))
        }
        async fn list(&self, _: &str) -> ListResult {
            let n = self.lists.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(vec![json!({"name": "a", "n": n})])
        }
        async fn write(&self, method: &str, id: &str, _: &Value) -> Result<Started, ArmFailure> {
            if self.refuse_writes.load(Ordering::SeqCst) {
                return Err(ArmFailure::local(method, id, "ParentResourceNotFound", "the parent is gone"));
            }
            Ok(Started::Done(None))
        }
        async fn delete(&self, _: &str) -> Result<Started, ArmFailure> {
            Ok(Started::Done(None))
        }
        async fn poll(&self, _: &PendingOperation) -> Result<Polled, ArmFailure> {
            Ok(Polled::Done(None))
        }
        async fn changes(&self, _: &str, _: &str, since: jiff::Timestamp) -> Result<Changes, ArmFailure> {
            self.changes.fetch_add(1, Ordering::SeqCst);
            self.changes_from.lock().expect("lock").push(since);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Changes::now(self.log.lock().expect("lock").iter().filter(|e| e.timestamp >= since).cloned().collect()))
        }
    }

    #[tokio::test]
    async fn the_resyncs_of_a_workspace_share_one_activity_log_query_per_resource_group() {
        let inner = Arc::new(Counting::default());
        let arm = shared(&inner);
        let now = jiff::Timestamp::now();
        let ago = |s: i64| now - jiff::SignedDuration::from_secs(s);
        // Eight objects whose passes started within a few seconds of each other, at once.
        let asks = futures::future::join_all((0..8).map(|k| arm.changes("s", "rg", ago(100 + k)))).await;
        assert!(asks.iter().all(Result::is_ok));
        assert_eq!(inner.changes.load(Ordering::SeqCst), 1, "one query for the resource group");
        // Another resource group, or a baseline before what was asked, is another query.
        arm.changes("s", "rg-dns", ago(100)).await.expect("changes");
        arm.changes("s", "rg", ago(400)).await.expect("changes");
        assert_eq!(inner.changes.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_resource_groups_log_is_asked_again_only_from_its_last_answer_less_the_lag() {
        let inner = Arc::new(Counting::default());
        // Answers shared for 100 ms here (a tenth of a resync period in `moat run`); a lag of 300 s.
        let feed = FeedConfig { lag: Duration::from_secs(300), reuse_age: Duration::from_millis(100), retain: Duration::from_secs(900), slack: Duration::from_secs(60) };
        let arm = SharedReads::new(inner.clone(), Duration::from_secs(150)).with_feed(feed);
        assert_eq!(SharedReads::new(inner.clone(), Duration::from_secs(150)).with_log_lag(Duration::from_secs(290)).feed, FeedConfig::for_steady_age(Duration::from_secs(150), Duration::from_secs(300)), "the clocks' 10 s are added");
        let now = jiff::Timestamp::now();
        let secs = jiff::SignedDuration::from_secs;
        let event = |name: &str, at: jiff::Timestamp| crate::azure::activity::ActivityEvent {
            resource_id: format!("{VNET}/subnets/{name}"),
            timestamp: at,
            operation: "x/write".into(),
            status: "Succeeded".into(),
        };
        inner.log.lock().expect("lock").push(event("ten-minutes-ago", now - secs(600)));
        // A check whose object read everything an hour ago: from its baseline, less a minute.
        let first = arm.changes("s", "rg", now - secs(3600)).await.expect("changes");
        assert_eq!(first.events.len(), 1);
        // Its next check asks from that answer's time less the lag, after the reuse age: only what
        // may have been published since is asked, from the first answer's time less 300 s; the
        // event ten minutes old comes from what the feed kept.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let next = arm.changes("s", "rg", first.as_of - secs(300)).await.expect("changes");
        assert_eq!(inner.changes_from.lock().expect("lock").clone(), vec![now - secs(3660), first.as_of - secs(300)]);
        assert_eq!(next.events.len(), 1, "kept, not fetched again");
        // Within the reuse age, any check the feed covers is answered without a query.
        arm.changes("s", "rg", first.as_of - secs(200)).await.expect("changes");
        assert_eq!(inner.changes.load(Ordering::SeqCst), 2);
    }

    const VNET: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";

    fn shared(inner: &Arc<Counting>) -> SharedReads {
        SharedReads::new(inner.clone(), Duration::from_secs(60))
    }

    #[tokio::test]
    async fn what_lasts_is_reused_while_converging_for_seconds_and_an_absence_never() {
        const RG: &str = "/subscriptions/s/resourceGroups/rg";
        const GONE: &str = "/subscriptions/s/resourceGroups/gone";
        let inner = Arc::new(Counting::default());
        inner.absent.lock().expect("lock").push(GONE.into());
        let converging_age = Duration::from_millis(150);
        let arm = shared(&inner).with_lasting_converging_age(converging_age);
        let first = with_priority(Priority::Converge, arm.get_lasting(RG)).await.expect("get");
        assert!(first.value.is_some() && !first.reused);
        // Another converging reconcile of the same workspace, a moment later: no second GET.
        let again = with_priority(Priority::Converge, arm.get_lasting(RG)).await.expect("get");
        assert!(again.reused);
        assert_eq!(inner.gets.load(Ordering::SeqCst), 1);
        // Converging work takes it for a few seconds only; steady state for the reuse window.
        tokio::time::sleep(converging_age + Duration::from_millis(50)).await;
        assert!(with_priority(Priority::Steady, arm.get_lasting(RG)).await.expect("get").reused);
        assert!(!with_priority(Priority::Converge, arm.get_lasting(RG)).await.expect("get").reused);
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2);
        // That something is absent is always asked of ARM: it may be created any moment.
        for _ in 0..2 {
            let gone = with_priority(Priority::Steady, arm.get_lasting(GONE)).await.expect("get");
            assert!(gone.value.is_none() && !gone.reused);
        }
        assert_eq!(inner.gets.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_shared_zone_that_exists_is_reused_by_converging_work_for_the_steady_age_and_an_absence_never() {
        const ZONE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net";
        const NEW: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.file.core.windows.net";
        let inner = Arc::new(Counting::default());
        inner.absent.lock().expect("lock").push(NEW.into());
        let arm = SharedReads::new(inner.clone(), Duration::from_millis(300)).with_lasting_converging_age(Duration::from_millis(10));
        let converging = |id: &'static str| with_priority(Priority::Converge, arm.get_infrastructure(id));
        assert!(!converging(ZONE).await.expect("get").reused);
        // Other bindings converging later than a lasting read's few seconds: the same answer.
        tokio::time::sleep(Duration::from_millis(60)).await;
        for _ in 0..3 {
            assert!(converging(ZONE).await.expect("get").reused);
        }
        assert!(!with_priority(Priority::Converge, arm.get_lasting(ZONE)).await.expect("get").reused, "a plain lasting read is older than its age");
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2);
        // Past the steady age it is read again; a zone that does not exist is asked every time.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(!converging(ZONE).await.expect("get").reused);
        for _ in 0..2 {
            let absent = converging(NEW).await.expect("get");
            assert!(absent.value.is_none() && !absent.reused);
        }
        assert_eq!(inner.gets.load(Ordering::SeqCst), 5);
        // A write to the zone (its create, its deletion) forgets it.
        arm.delete(ZONE).await.expect("delete");
        assert!(!converging(ZONE).await.expect("get").reused);
        // So does a refused write of a link in it (the zone may be gone): the next pass asks ARM.
        let link = format!("{ZONE}/virtualNetworkLinks/moat-vnet");
        arm.write("PUT", &link, &json!({})).await.expect("write");
        assert!(converging(ZONE).await.expect("get").reused, "an accepted link write leaves the zone's answer");
        inner.refuse_writes.store(true, Ordering::SeqCst);
        assert!(arm.write("PUT", &link, &json!({})).await.is_err());
        assert!(!converging(ZONE).await.expect("get").reused);
    }

    #[tokio::test]
    async fn steady_reads_are_reused_within_the_max_age_and_converging_ones_never() {
        let inner = Arc::new(Counting::default());
        let arm = shared(&inner);
        let first = with_priority(Priority::Steady, arm.get_shared(VNET)).await.expect("get");
        assert!(!first.reused);
        let again = with_priority(Priority::Steady, arm.get_shared(&VNET.to_uppercase())).await.expect("get");
        assert!(again.reused, "ids compare case-insensitively");
        assert_eq!(again.value, first.value);
        assert_eq!(inner.gets.load(Ordering::SeqCst), 1);
        let converging = with_priority(Priority::Converge, arm.get_shared(VNET)).await.expect("get");
        assert!(!converging.reused);
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2, "converging work reads ARM");
        // A plain get always goes to ARM, and refreshes what steady reads reuse.
        let plain = arm.get(VNET).await.expect("get");
        assert_eq!(inner.gets.load(Ordering::SeqCst), 3);
        let after = with_priority(Priority::Steady, arm.get_shared(VNET)).await.expect("get");
        assert_eq!(after.value, plain);
        assert_eq!(arm.counts(), SharedReadCounts { reused: 2, joined: 0, sent: 2 });
    }

    #[tokio::test]
    async fn a_settled_object_reuses_answers_while_it_converges() {
        let inner = Arc::new(Counting::default());
        let arm = shared(&inner);
        with_priority(Priority::Converge, arm.get_shared(VNET)).await.expect("get");
        let settled = with_priority(Priority::Converge, with_settled(true, arm.get_shared(VNET))).await.expect("get");
        assert!(settled.reused);
        let unsettled = with_priority(Priority::Converge, with_settled(false, arm.get_shared(VNET))).await.expect("get");
        assert!(!unsettled.reused);
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn settled_means_every_resource_succeeded_at_this_generation_and_nothing_running() {
        use crate::api::ResourceStatus;
        let ok = |id: &str| ResourceStatus { kind: "VirtualNetwork".into(), id: id.into(), state: "Succeeded".into(), owned: true };
        let rs = vec![ok("/a"), ok("/b")];
        assert!(is_settled(Some(2), Some(2), &rs, &[]));
        assert!(!is_settled(Some(3), Some(2), &rs, &[]), "a new generation is not settled");
        assert!(!is_settled(Some(2), Some(2), &[], &[]), "nothing recorded yet");
        let mut creating = rs.clone();
        creating[1].state = "Creating".into();
        assert!(!is_settled(Some(2), Some(2), &creating, &[]));
        let op = PendingOperation { resource_id: "/a".into(), method: "PUT".into(), poll_url: "https://x/op".into(), poll_kind: "AzureAsyncOperation".into(), started_at: String::new() };
        assert!(!is_settled(Some(2), Some(2), &rs, &[op]));
    }

    #[tokio::test]
    async fn steady_reads_expire() {
        let inner = Arc::new(Counting::default());
        let arm = SharedReads::new(inner.clone(), Duration::from_millis(30));
        with_priority(Priority::Steady, arm.get_shared(VNET)).await.expect("get");
        tokio::time::sleep(Duration::from_millis(80)).await;
        let late = with_priority(Priority::Steady, arm.get_shared(VNET)).await.expect("get");
        assert!(!late.reused);
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn old_answers_are_dropped_not_kept_forever() {
        let inner = Arc::new(Counting::default());
        let arm = SharedReads::new(inner.clone(), Duration::from_millis(20));
        for i in 0..50 {
            arm.get(&format!("{VNET}-{i}")).await.expect("get");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        arm.get(VNET).await.expect("get");
        let s = arm.state.lock().expect("lock");
        assert_eq!(s.gets.len(), 1, "only the answer young enough to be reused is held");
    }

    #[tokio::test]
    async fn concurrent_reads_of_one_id_send_one_request() {
        let inner = Arc::new(Counting::default());
        let arm = shared(&inner);
        let reads = futures::future::join_all((0..8).map(|_| arm.get_shared(VNET))).await;
        assert!(reads.iter().all(|r| r.as_ref().is_ok_and(|o| !o.reused)));
        assert_eq!(inner.gets.load(Ordering::SeqCst), 1);
        assert_eq!(arm.counts().joined, 7);
    }

    #[tokio::test]
    async fn a_write_forgets_the_resource_its_parent_and_its_zone_records() {
        let inner = Arc::new(Counting::default());
        let arm = shared(&inner);
        let steady = |id: &'static str| with_priority(Priority::Steady, arm.get_shared(id));
        let zone_a = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net/A";
        steady(VNET).await.expect("get");
        with_priority(Priority::Steady, arm.list_shared(zone_a)).await.expect("list");
        // A subnet write changes its VNet's body.
        arm.write("PUT", &format!("{VNET}/subnets/a"), &json!({})).await.expect("write");
        assert!(!steady(VNET).await.expect("get").reused);
        assert!(with_priority(Priority::Steady, arm.list_shared(zone_a)).await.expect("list").reused, "a subnet write leaves zone records alone");
        // A zone group write changes the records its zones serve.
        arm.write("PUT", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe/privateDnsZoneGroups/default", &json!({}))
            .await
            .expect("write");
        assert!(!with_priority(Priority::Steady, arm.list_shared(zone_a)).await.expect("list").reused);
        // A deletion of the VNet forgets it too.
        assert!(steady(VNET).await.expect("get").reused);
        arm.delete(VNET).await.expect("delete");
        assert!(!steady(VNET).await.expect("get").reused);
    }

    #[tokio::test]
    async fn an_answer_that_started_before_a_write_is_not_kept() {
        let inner = Arc::new(Counting::default());
        let arm = Arc::new(shared(&inner));
        let reader = {
            let arm = arm.clone();
            tokio::spawn(async move { with_priority(Priority::Steady, arm.get_shared(VNET)).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        arm.write("PUT", VNET, &json!({})).await.expect("write");
        reader.await.expect("join").expect("get");
        let next = with_priority(Priority::Steady, arm.get_shared(VNET)).await.expect("get");
        assert!(!next.reused, "the read in flight during the write is not reused");
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2);
    }
}
