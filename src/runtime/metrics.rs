//! Prometheus metrics of the operator.
//!
//! [`Metrics`] owns the registry and is a cheap clonable handle (`Arc` inside): put one in the
//! controllers' context and hand [`Metrics::arm`] to the ARM client. Series:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `moat_reconcile_total` | counter | `kind`, `result` (`success`, `error`, `aborted`) |
//! | `moat_reconcile_duration_seconds` | histogram | `kind` |
//! | `moat_reconcile_errors_total` | counter | `kind`, `reason` |
//! | `moat_resync_checks_total` | counter | `kind`, `outcome` (`quiet`: only the Activity Log was read; `azure_change`, `kubernetes_change`, `backstop`, `unknown`, `activity_log_error`: everything was read) |
//! | `moat_reconcile_queue_depth` | gauge | `kind` (reconciles due and waiting for a worker) |
//! | `moat_reconciles_in_flight` | gauge | `kind` |
//! | `moat_reconcile_longest_running_seconds` | gauge | `kind` (how long the oldest reconcile running now has run, at scrape time; 0 when none runs) |
//! | `moat_arm_requests_total` | counter | `method`, `resource_type`, `status` (HTTP code; `error` without a response) |
//! | `moat_arm_request_duration_seconds` | histogram | `method`, `resource_type` |
//! | `moat_arm_operations_in_flight` | gauge | `method`, `resource_type` (long-running operations started and not yet ended) |
//! | `moat_constraint_findings` | gauge | `kind`, `rule`, `severity` (findings the objects of a kind have now) |
//! | `moat_leader` | gauge | — (1 while this replica leads, or when election is off) |
//!
//! Label values must have a small, bounded set of values: `kind` is the CR kind, `reason` an error
//! variant name, `resource_type` an ARM type (`Microsoft.Network/privateEndpoints`, see
//! [`arm_resource_type`]; an operation-status URL gives `Microsoft.Network/locations/operations`),
//! `rule` a catalog rule id, never a resource id or name.
//!
//! Throttling shows as `moat_arm_requests_total{status="429"}`. A long-running operation that
//! nobody polled for [`STALE_OPERATION`] (its object was deleted mid-operation) stops counting as
//! in flight.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::encode_openmetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of [`Metrics::encode_prometheus`].
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Reconcile durations: 10 ms .. ~5 min (ARM long-running operations are polled across reconciles).
const RECONCILE_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];
/// ARM request durations: 25 ms .. 60 s.
const ARM_BUCKETS: [f64; 11] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A long-running operation not polled for this long no longer counts in
/// `moat_arm_operations_in_flight` (reconcilers poll running operations every few seconds).
pub const STALE_OPERATION: Duration = Duration::from_secs(15 * 60);

/// Locks a mutex, taking the data of a poisoned one (a panic elsewhere must not stop metrics).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How one reconcile ended, the `result` label of `moat_reconcile_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileResult {
    /// The reconciler returned `Ok`.
    Success,
    /// The reconciler returned an error.
    Error,
    /// The reconcile future was dropped before it finished (shutdown, leadership lost).
    Aborted,
}

impl ReconcileResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
            ReconcileResult::Aborted => "aborted",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArmRequestLabels {
    method: String,
    resource_type: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ArmDurationLabels {
    method: String,
    resource_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObserveReadLabels {
    resource_type: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct FindingLabels {
    kind: String,
    rule: String,
    severity: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

fn arm_histogram() -> Histogram {
    Histogram::new(ARM_BUCKETS)
}

/// The ARM series, shared by [`Metrics`] and every [`ArmMetrics`] clone.
#[derive(Debug)]
struct ArmFamilies {
    requests: Family<ArmRequestLabels, Counter>,
    duration: HistogramFamily<ArmDurationLabels>,
    operations: Family<ArmDurationLabels, Gauge>,
    observe_reads: Family<ObserveReadLabels, Counter>,
    running: Mutex<RunningOperations>,
}

/// Running operations by key (labels, when last seen running), and every series set so far.
#[derive(Debug, Default)]
struct RunningOperations {
    by_key: HashMap<String, (ArmDurationLabels, Instant)>,
    series: std::collections::BTreeSet<ArmDurationLabels>,
}

impl ArmFamilies {
    /// Sets `moat_arm_operations_in_flight` from `running`, after dropping stale operations.
    /// Every series set before is set again (to 0 when nothing of it runs any more).
    fn publish_operations(&self, running: &mut RunningOperations, now: Instant) {
        running.by_key.retain(|_, (_, seen)| now.saturating_duration_since(*seen) < STALE_OPERATION);
        let mut counts: BTreeMap<&ArmDurationLabels, i64> = BTreeMap::new();
        for (labels, _) in running.by_key.values() {
            *counts.entry(labels).or_default() += 1;
        }
        running.series.extend(counts.keys().map(|l| (*l).clone()));
        for labels in &running.series {
            self.operations.get_or_create(labels).set(counts.get(labels).copied().unwrap_or(0));
        }
    }
}

/// The findings each object reports, and the `moat_constraint_findings` series set so far.
#[derive(Debug, Default)]
struct FindingsState {
    by_object: HashMap<(String, String), Vec<(String, String)>>,
    series: std::collections::BTreeSet<FindingLabels>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: HistogramFamily<KindLabels>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    resync_checks: Family<OutcomeLabels, Counter>,
    queue_depth: Family<KindLabels, Gauge>,
    in_flight: Family<KindLabels, Gauge>,
    longest_running: Family<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// When each reconcile running now started, by kind (a count per instant).
    running_since: Mutex<HashMap<String, BTreeMap<Instant, u32>>>,
    arm: Arc<ArmFamilies>,
    findings: Family<FindingLabels, Gauge>,
    findings_state: Mutex<FindingsState>,
    leader: Gauge,
}

/// The operator's metrics: a cheap clonable handle around one registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding every moat series, all empty.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register("moat_reconcile", "Reconciles by kind and result", reconciles.clone());
        let reconcile_duration = HistogramFamily::<KindLabels>::new_with_constructor(reconcile_histogram as fn() -> _);
        registry.register(
            "moat_reconcile_duration_seconds",
            "Duration of one reconcile, in seconds",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "moat_reconcile_errors",
            "Failed reconciles by kind and error reason",
            reconcile_errors.clone(),
        );
        let resync_checks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "moat_resync_checks",
            "Passes that asked the Activity Log whether anything they read changed, by kind and outcome: quiet (nothing else read) or why everything was read",
            resync_checks.clone(),
        );
        let queue_depth = Family::<KindLabels, Gauge>::default();
        registry.register(
            "moat_reconcile_queue_depth",
            "Reconciles that are due and wait for a free worker (--concurrency), by kind",
            queue_depth.clone(),
        );
        let in_flight = Family::<KindLabels, Gauge>::default();
        registry.register("moat_reconciles_in_flight", "Reconciles running now, by kind", in_flight.clone());
        let longest_running = Family::<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "moat_reconcile_longest_running_seconds",
            "How long the oldest reconcile running now has run, in seconds, by kind (0 when none runs); a pass waits on Azure for at most --operation-budget-seconds, so a value far past it is a stuck reconcile",
            longest_running.clone(),
        );
        let arm = Arc::new(ArmFamilies {
            requests: Family::default(),
            duration: HistogramFamily::new_with_constructor(arm_histogram as fn() -> _),
            operations: Family::default(),
            observe_reads: Family::default(),
            running: Mutex::new(RunningOperations::default()),
        });
        registry.register(
            "moat_arm_observe_reads",
            "Reads of the reconciles' observe passes by resource type and outcome: sent to ARM, joined a read in flight, or reused a recent answer (steady state)",
            arm.observe_reads.clone(),
        );
        registry.register(
            "moat_arm_requests",
            "Azure Resource Manager requests by method, resource type and HTTP status",
            arm.requests.clone(),
        );
        registry.register(
            "moat_arm_request_duration_seconds",
            "Duration of one Azure Resource Manager request, in seconds",
            arm.duration.clone(),
        );
        registry.register(
            "moat_arm_operations_in_flight",
            "Azure long-running operations started and not yet ended, by method and resource type",
            arm.operations.clone(),
        );
        let findings = Family::<FindingLabels, Gauge>::default();
        registry.register(
            "moat_constraint_findings",
            "Constraint findings the objects of a kind currently have, by rule and severity",
            findings.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "moat_leader",
            "1 while this replica holds the leader lease (or runs without leader election), else 0",
            leader.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_duration,
                reconcile_errors,
                resync_checks,
                queue_depth,
                in_flight,
                longest_running,
                running_since: Mutex::new(HashMap::new()),
                arm,
                findings,
                findings_state: Mutex::new(FindingsState::default()),
                leader,
            }),
        }
    }

    /// Creates the zero-valued series of `kinds` so that dashboards and `rate()` see them from
    /// the start (the Prometheus advice for known label values).
    pub fn init_kinds(&self, kinds: &[&str]) {
        for kind in kinds {
            for result in [ReconcileResult::Success, ReconcileResult::Error] {
                let _ = self.inner.reconciles.get_or_create(&ReconcileLabels {
                    kind: (*kind).to_owned(),
                    result: result.as_str().to_owned(),
                });
            }
            let labels = KindLabels { kind: (*kind).to_owned() };
            let _ = self.inner.reconcile_duration.get_or_create(&labels);
            let _ = self.inner.queue_depth.get_or_create(&labels);
            let _ = self.inner.in_flight.get_or_create(&labels);
            let _ = self.inner.longest_running.get_or_create(&labels);
        }
    }

    /// Adds `delta` to `moat_reconcile_queue_depth{kind}`.
    pub fn add_queued(&self, kind: &str, delta: i64) {
        self.inner.queue_depth.get_or_create(&KindLabels { kind: kind.to_owned() }).inc_by(delta);
    }

    /// Adds `delta` to `moat_reconciles_in_flight{kind}`.
    pub fn add_in_flight(&self, kind: &str, delta: i64) {
        self.inner.in_flight.get_or_create(&KindLabels { kind: kind.to_owned() }).inc_by(delta);
    }

    /// Notes that a reconcile of `kind` that started at `since` runs (`running`) or ended.
    pub fn reconcile_running(&self, kind: &str, since: Instant, running: bool) {
        let mut all = lock(&self.inner.running_since);
        let of_kind = all.entry(kind.to_owned()).or_default();
        if running {
            *of_kind.entry(since).or_default() += 1;
        } else if let Some(n) = of_kind.get_mut(&since) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                of_kind.remove(&since);
            }
        }
    }

    /// Sets `moat_reconcile_longest_running_seconds` for every kind seen, as of `now`.
    fn publish_longest_running(&self, now: Instant) {
        let all = lock(&self.inner.running_since);
        for (kind, since) in all.iter() {
            let oldest = since.keys().next().map_or(0.0, |s| now.saturating_duration_since(*s).as_secs_f64());
            self.inner.longest_running.get_or_create(&KindLabels { kind: kind.clone() }).set(oldest);
        }
    }

    /// Starts timing a reconcile of `kind`; finish it with [`ReconcileTimer::success`] or
    /// [`ReconcileTimer::failure`]. A timer dropped unfinished counts as `aborted`.
    pub fn reconcile_timer(&self, kind: &str) -> ReconcileTimer {
        ReconcileTimer { metrics: self.clone(), kind: kind.to_owned(), start: Instant::now(), done: false }
    }

    /// Records a finished reconcile: `moat_reconcile_total` and the duration histogram.
    pub fn observe_reconcile(&self, kind: &str, result: ReconcileResult, duration: Duration) {
        self.inner
            .reconciles
            .get_or_create(&ReconcileLabels { kind: kind.to_owned(), result: result.as_str().to_owned() })
            .inc();
        self.inner
            .reconcile_duration
            .get_or_create(&KindLabels { kind: kind.to_owned() })
            .observe(duration.as_secs_f64());
    }

    /// Counts one failed reconcile in `moat_reconcile_errors_total`. [`ReconcileTimer::failure`]
    /// already calls it: do not call both for the same failure.
    pub fn reconcile_error(&self, kind: &str, reason: &str) {
        self.inner
            .reconcile_errors
            .get_or_create(&ErrorLabels { kind: kind.to_owned(), reason: reason.to_owned() })
            .inc();
    }

    /// Counts one pass's resync decision in `moat_resync_checks_total`.
    pub fn resync_checked(&self, kind: &str, outcome: &str) {
        self.inner.resync_checks.get_or_create(&OutcomeLabels { kind: kind.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// The recorder the ARM client calls for each HTTP request.
    pub fn arm(&self) -> ArmMetrics {
        ArmMetrics { families: Some(self.inner.arm.clone()) }
    }

    /// Records the findings one object has now, as `(rule id, severity)` pairs (an empty list
    /// once it is deleted or clean), and sets `moat_constraint_findings{kind,rule,severity}` to
    /// the totals over every object of `kind`. Series whose findings are gone drop to 0.
    pub fn set_object_findings<'a>(&self, kind: &str, object: &str, findings: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let findings: Vec<(String, String)> = findings.into_iter().map(|(r, s)| (r.to_owned(), s.to_owned())).collect();
        let mut state = lock(&self.inner.findings_state);
        let key = (kind.to_owned(), object.to_owned());
        if findings.is_empty() {
            state.by_object.remove(&key);
        } else {
            state.by_object.insert(key, findings);
        }
        let mut totals: BTreeMap<FindingLabels, i64> = BTreeMap::new();
        for ((k, _), list) in &state.by_object {
            if k != kind {
                continue;
            }
            for (rule, severity) in list {
                *totals.entry(FindingLabels { kind: kind.to_owned(), rule: rule.clone(), severity: severity.clone() }).or_default() += 1;
            }
        }
        let FindingsState { series, .. } = &mut *state;
        series.extend(totals.keys().cloned());
        for labels in series.iter().filter(|l| l.kind == kind) {
            self.inner.findings.get_or_create(labels).set(totals.get(labels).copied().unwrap_or(0));
        }
    }

    /// Sets `moat_leader` to 1 or 0.
    pub fn set_leader(&self, leading: bool) {
        self.inner.leader.set(i64::from(leading));
    }

    /// The current `moat_leader` value.
    pub fn is_leader(&self) -> bool {
        self.inner.leader.get() == 1
    }

    /// The registry in OpenMetrics text (`# EOF` terminated).
    pub fn encode_openmetrics(&self) -> Result<String, std::fmt::Error> {
        self.publish_longest_running(Instant::now());
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)?;
        Ok(out)
    }

    /// The registry in the Prometheus text format 0.0.4.
    pub fn encode_prometheus(&self) -> Result<String, std::fmt::Error> {
        self.publish_longest_running(Instant::now());
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.inner.registry)?;
        Ok(out)
    }
}

/// The controllers' hooks (`controller::run::run(.., Some(Arc::new(metrics.clone())), ..)`):
/// `moat_reconcile_total`, the duration histogram, `moat_reconcile_errors_total` with the
/// error's `metric_label` as `reason`, the queue and in-flight gauges, and the findings gauge.
impl crate::controller::run::Observer for Metrics {
    fn reconciled(&self, kind: &str, ok: bool, duration: Duration, error: Option<&crate::controller::Error>) {
        if ok {
            self.observe_reconcile(kind, ReconcileResult::Success, duration);
        } else {
            self.observe_reconcile(kind, ReconcileResult::Error, duration);
            self.reconcile_error(kind, error.map_or("unknown", crate::controller::Error::metric_label));
        }
    }

    fn queued(&self, kind: &str, delta: i64) {
        self.add_queued(kind, delta);
    }

    fn in_flight(&self, kind: &str, delta: i64) {
        self.add_in_flight(kind, delta);
    }

    fn running(&self, kind: &str, since: Instant, running: bool) {
        self.reconcile_running(kind, since, running);
    }

    fn resync_checked(&self, kind: &str, outcome: &str) {
        Metrics::resync_checked(self, kind, outcome);
    }

    fn findings(&self, kind: &str, object: &str, findings: &[crate::api::FindingStatus]) {
        let severities: Vec<String> = findings.iter().map(|f| f.severity.to_string()).collect();
        self.set_object_findings(kind, object, findings.iter().zip(&severities).map(|(f, s)| (f.id.as_str(), s.as_str())));
    }
}

/// Measures one reconcile; see [`Metrics::reconcile_timer`].
#[derive(Debug)]
#[must_use = "finish the timer with success() or failure(); dropping it records `aborted`"]
pub struct ReconcileTimer {
    metrics: Metrics,
    kind: String,
    start: Instant,
    done: bool,
}

impl ReconcileTimer {
    /// Records a successful reconcile.
    pub fn success(mut self) {
        self.finish(ReconcileResult::Success);
    }

    /// Records a failed reconcile and its `reason` (an error variant name, low cardinality).
    pub fn failure(mut self, reason: &str) {
        self.metrics.reconcile_error(&self.kind, reason);
        self.finish(ReconcileResult::Error);
    }

    fn finish(&mut self, result: ReconcileResult) {
        if !self.done {
            self.done = true;
            self.metrics.observe_reconcile(&self.kind, result, self.start.elapsed());
        }
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.finish(ReconcileResult::Aborted);
    }
}

/// What the ARM client records per HTTP request: a cheap clonable handle.
///
/// [`ArmMetrics::disabled`] records nothing (unit tests, tools without a registry).
#[derive(Clone, Debug, Default)]
pub struct ArmMetrics {
    families: Option<Arc<ArmFamilies>>,
}

impl ArmMetrics {
    /// A recorder that drops every observation.
    pub fn disabled() -> Self {
        Self { families: None }
    }

    /// Records one ARM request that got an HTTP response.
    ///
    /// `method` is the HTTP method (`GET`, `PUT`, ...); `resource_type` the ARM type such as
    /// `Microsoft.Network/privateEndpoints` (use [`arm_resource_type`] on a resource id), never an
    /// id; `status` the HTTP status code; `duration` the time until the response headers.
    pub fn observe(&self, method: &str, resource_type: &str, status: u16, duration: Duration) {
        self.record(method, resource_type, &status.to_string(), duration);
    }

    /// Records one ARM request that got no HTTP response (connect error, timeout, TLS):
    /// `status="error"`.
    pub fn observe_transport_error(&self, method: &str, resource_type: &str, duration: Duration) {
        self.record(method, resource_type, "error", duration);
    }

    /// Counts one observe read (`sent`, `joined` or `reused`); see [`ArmObserver::observe_read`].
    pub fn observe_read(&self, resource_type: &str, outcome: &str) {
        let Some(f) = &self.families else { return };
        f.observe_reads.get_or_create(&ObserveReadLabels { resource_type: resource_type.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// Counts an operation as running (again); see [`ArmObserver::operation_running`].
    pub fn operation_running(&self, key: &str, method: &str, resource_type: &str) {
        let Some(f) = &self.families else { return };
        let mut running = lock(&f.running);
        let labels = ArmDurationLabels { method: method.to_owned(), resource_type: resource_type.to_owned() };
        running.by_key.insert(key.to_owned(), (labels, Instant::now()));
        f.publish_operations(&mut running, Instant::now());
    }

    /// Stops counting an operation; see [`ArmObserver::operation_ended`].
    pub fn operation_ended(&self, key: &str) {
        let Some(f) = &self.families else { return };
        let mut running = lock(&f.running);
        running.by_key.remove(key);
        f.publish_operations(&mut running, Instant::now());
    }

    fn record(&self, method: &str, resource_type: &str, status: &str, duration: Duration) {
        let Some(f) = &self.families else { return };
        f.requests
            .get_or_create(&ArmRequestLabels {
                method: method.to_owned(),
                resource_type: resource_type.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        f.duration
            .get_or_create(&ArmDurationLabels { method: method.to_owned(), resource_type: resource_type.to_owned() })
            .observe(duration.as_secs_f64());
    }
}

/// The ARM client's reports land in the ARM series: put `ArmMetrics` in
/// `ArmClientConfig::observer` (`ObserverHandle::new(Arc::new(metrics.arm()))`).
impl crate::azure::ArmObserver for ArmMetrics {
    fn request(&self, method: &str, path: &str, status: Option<u16>, duration: Duration) {
        let resource_type = arm_resource_type(path);
        match status {
            Some(code) => self.observe(method, &resource_type, code, duration),
            None => self.observe_transport_error(method, &resource_type, duration),
        }
    }

    fn operation_running(&self, key: &str, method: &str, resource_type: &str) {
        ArmMetrics::operation_running(self, key, method, resource_type);
    }

    fn operation_ended(&self, key: &str) {
        ArmMetrics::operation_ended(self, key);
    }

    fn observe_read(&self, path: &str, outcome: &str) {
        ArmMetrics::observe_read(self, &arm_resource_type(path), outcome);
    }
}

/// The ARM resource type of a resource id or request path, for the `resource_type` label.
///
/// `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/x`
/// gives `Microsoft.Network/virtualNetworks/subnets`; a resource-group path gives
/// `resourceGroups`, a subscription path `subscriptions`; anything else `other`. Query strings
/// are ignored. Nested providers (extension resources) use the last provider segment.
pub fn arm_resource_type(id: &str) -> String {
    let path = id.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(p) = segments.iter().rposition(|s| s.eq_ignore_ascii_case("providers")) {
        let rest = &segments[p + 1..];
        if let Some(namespace) = rest.first() {
            // rest = [Namespace, type, name, childType, childName, ...]: types at odd positions.
            let types: Vec<&str> = rest.iter().skip(1).step_by(2).copied().collect();
            if types.is_empty() {
                return (*namespace).to_owned();
            }
            return format!("{namespace}/{}", types.join("/"));
        }
    }
    match segments.as_slice() {
        [s, _, rg, ..] if s.eq_ignore_ascii_case("subscriptions") && rg.eq_ignore_ascii_case("resourceGroups") => {
            "resourceGroups".to_owned()
        }
        [s, ..] if s.eq_ignore_ascii_case("subscriptions") => "subscriptions".to_owned(),
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_encoded_once_observed() {
        let m = Metrics::new();
        m.reconcile_timer("SecureWorkspace").success();
        m.reconcile_timer("ComputeSubnet").failure("ArmError");
        drop(m.reconcile_timer("PrivateEndpointBinding"));
        m.arm().observe("PUT", "Microsoft.Network/privateEndpoints", 201, Duration::from_millis(40));
        m.arm().observe_transport_error("GET", "resourceGroups", Duration::from_secs(1));
        m.set_object_findings("SecureWorkspace", "ns/a", [("NET-001", "Error"), ("NET-001", "Error")]);
        m.set_leader(true);
        let text = m.encode_prometheus().expect("encode");
        for needle in [
            r#"moat_reconcile_total{kind="SecureWorkspace",result="success"} 1"#,
            r#"moat_reconcile_total{kind="ComputeSubnet",result="error"} 1"#,
            r#"moat_reconcile_total{kind="PrivateEndpointBinding",result="aborted"} 1"#,
            r#"moat_reconcile_errors_total{kind="ComputeSubnet",reason="ArmError"} 1"#,
            r#"moat_reconcile_duration_seconds_count{kind="SecureWorkspace"} 1"#,
            r#"moat_arm_requests_total{method="PUT",resource_type="Microsoft.Network/privateEndpoints",status="201"} 1"#,
            r#"moat_arm_requests_total{method="GET",resource_type="resourceGroups",status="error"} 1"#,
            r#"moat_arm_request_duration_seconds_bucket{method="PUT",resource_type="Microsoft.Network/privateEndpoints",le="0.05"} 1"#,
            r#"moat_constraint_findings{kind="SecureWorkspace",rule="NET-001",severity="Error"} 2"#,
            "moat_leader 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        let om = m.encode_openmetrics().expect("encode");
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn init_kinds_creates_zero_series() {
        let m = Metrics::new();
        m.init_kinds(&["SecureWorkspace"]);
        let text = m.encode_prometheus().expect("encode");
        assert!(text.contains(r#"moat_reconcile_total{kind="SecureWorkspace",result="error"} 0"#), "{text}");
    }

    #[test]
    fn controller_observer_records_results_and_reasons() {
        use crate::controller::run::Observer;
        let m = Metrics::new();
        m.reconciled("ComputeSubnet", true, Duration::from_millis(5), None);
        let err = crate::controller::Error::Credentials("no secret".into());
        m.reconciled("ComputeSubnet", false, Duration::from_millis(5), Some(&err));
        let text = m.encode_prometheus().expect("encode");
        assert!(text.contains(r#"moat_reconcile_total{kind="ComputeSubnet",result="success"} 1"#), "{text}");
        assert!(text.contains(r#"moat_reconcile_total{kind="ComputeSubnet",result="error"} 1"#), "{text}");
        assert!(text.contains(r#"moat_reconcile_errors_total{kind="ComputeSubnet",reason="credentials"} 1"#), "{text}");
    }

    #[test]
    fn findings_are_totals_over_the_objects_of_a_kind_and_drop_to_zero() {
        let m = Metrics::new();
        let line = |rule: &str, sev: &str| format!(r#"moat_constraint_findings{{kind="ComputeSubnet",rule="{rule}",severity="{sev}"}}"#);
        m.set_object_findings("ComputeSubnet", "ns/a", [("NET-008", "Error"), ("NSG-002", "Warning")]);
        m.set_object_findings("ComputeSubnet", "ns/b", [("NET-008", "Error")]);
        m.set_object_findings("SecureWorkspace", "ns/w", [("NET-008", "Error")]);
        let text = m.encode_prometheus().expect("encode");
        assert!(text.contains(&format!("{} 2", line("NET-008", "Error"))), "{text}");
        assert!(text.contains(&format!("{} 1", line("NSG-002", "Warning"))), "{text}");
        // `a` is fixed, `b` is deleted: both series drop to 0, the other kind is untouched.
        m.set_object_findings("ComputeSubnet", "ns/a", []);
        m.set_object_findings("ComputeSubnet", "ns/b", []);
        let text = m.encode_prometheus().expect("encode");
        assert!(text.contains(&format!("{} 0", line("NET-008", "Error"))), "{text}");
        assert!(text.contains(&format!("{} 0", line("NSG-002", "Warning"))), "{text}");
        assert!(text.contains(r#"moat_constraint_findings{kind="SecureWorkspace",rule="NET-008",severity="Error"} 1"#), "{text}");
    }

    #[test]
    fn operations_in_flight_count_each_operation_once_until_it_ends() {
        use crate::azure::ArmObserver;
        let m = Metrics::new();
        let arm = m.arm();
        let series = r#"moat_arm_operations_in_flight{method="PUT",resource_type="Microsoft.Network/virtualNetworks"}"#;
        ArmObserver::operation_running(&arm, "PUT /x/vnet-a", "PUT", "Microsoft.Network/virtualNetworks");
        // Polls that find it running again do not count it twice.
        ArmObserver::operation_running(&arm, "PUT /x/vnet-a", "PUT", "Microsoft.Network/virtualNetworks");
        ArmObserver::operation_running(&arm, "PUT /x/vnet-b", "PUT", "Microsoft.Network/virtualNetworks");
        assert!(m.encode_prometheus().expect("encode").contains(&format!("{series} 2")));
        ArmObserver::operation_ended(&arm, "PUT /x/vnet-a");
        ArmObserver::operation_ended(&arm, "PUT /x/unknown");
        assert!(m.encode_prometheus().expect("encode").contains(&format!("{series} 1")));
        ArmObserver::operation_ended(&arm, "PUT /x/vnet-b");
        assert!(m.encode_prometheus().expect("encode").contains(&format!("{series} 0")));
    }

    #[test]
    fn stale_operations_stop_counting() {
        let m = Metrics::new();
        let f = m.inner.arm.clone();
        let mut running = RunningOperations::default();
        let labels = ArmDurationLabels { method: "DELETE".into(), resource_type: "Microsoft.Network/privateEndpoints".into() };
        let now = Instant::now();
        running.by_key.insert("old".into(), (labels.clone(), now));
        running.by_key.insert("new".into(), (labels, now + STALE_OPERATION));
        f.publish_operations(&mut running, now + STALE_OPERATION);
        assert_eq!(running.by_key.keys().collect::<Vec<_>>(), vec!["new"]);
    }

    #[test]
    fn the_client_observer_labels_requests_by_type_and_status() {
        use crate::azure::ArmObserver;
        let m = Metrics::new();
        let arm = m.arm();
        let sub = "/subscriptions/00000000-0000-0000-0000-000000000000";
        arm.request("GET", &format!("{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"), Some(429), Duration::from_millis(3));
        arm.request("GET", &format!("{sub}/providers/Microsoft.Network/locations/westeurope/operations/abc"), Some(200), Duration::from_millis(3));
        arm.request("PUT", &format!("{sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"), None, Duration::from_millis(3));
        let text = m.encode_prometheus().expect("encode");
        for needle in [
            r#"moat_arm_requests_total{method="GET",resource_type="Microsoft.Network/virtualNetworks",status="429"} 1"#,
            r#"moat_arm_requests_total{method="GET",resource_type="Microsoft.Network/locations/operations",status="200"} 1"#,
            r#"moat_arm_requests_total{method="PUT",resource_type="Microsoft.KeyVault/vaults",status="error"} 1"#,
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn queue_and_in_flight_gauges_move_with_the_controllers() {
        use crate::controller::run::Observer;
        let m = Metrics::new();
        m.init_kinds(&["ComputeSubnet"]);
        m.queued("ComputeSubnet", 1);
        m.queued("ComputeSubnet", 1);
        m.queued("ComputeSubnet", -1);
        m.in_flight("ComputeSubnet", 1);
        let text = m.encode_prometheus().expect("encode");
        assert!(text.contains(r#"moat_reconcile_queue_depth{kind="ComputeSubnet"} 1"#), "{text}");
        assert!(text.contains(r#"moat_reconciles_in_flight{kind="ComputeSubnet"} 1"#), "{text}");
    }

    #[test]
    fn the_longest_running_reconcile_shows_until_it_ends() {
        use crate::controller::run::Observer;
        let m = Metrics::new();
        m.init_kinds(&["ComputeSubnet", "SecureWorkspace"]);
        let now = Instant::now();
        let (old, young) = (now - Duration::from_secs(700), now - Duration::from_secs(3));
        m.running("ComputeSubnet", old, true);
        m.running("ComputeSubnet", young, true);
        m.running("ComputeSubnet", young, true);
        m.publish_longest_running(now);
        let text = m.encode_prometheus().expect("encode");
        let value = |text: &str, kind: &str| -> f64 {
            let prefix = format!(r#"moat_reconcile_longest_running_seconds{{kind="{kind}"}} "#);
            text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
        };
        assert!(value(&text, "ComputeSubnet") >= 700.0, "{text}");
        assert_eq!(value(&text, "SecureWorkspace"), 0.0, "{text}");
        m.running("ComputeSubnet", old, false);
        m.running("ComputeSubnet", young, false);
        let text = m.encode_prometheus().expect("encode");
        let left = value(&text, "ComputeSubnet");
        assert!((3.0..700.0).contains(&left), "the other reconcile of the same start still runs: {left}");
        m.running("ComputeSubnet", young, false);
        assert_eq!(value(&m.encode_prometheus().expect("encode"), "ComputeSubnet"), 0.0);
    }

    #[test]
    fn disabled_arm_metrics_is_a_no_op() {
        ArmMetrics::disabled().observe("GET", "x", 200, Duration::ZERO);
    }

    #[test]
    fn resource_types_from_ids() {
        let sub = "/subscriptions/00000000-0000-0000-0000-000000000000";
        assert_eq!(
            arm_resource_type(&format!(
                "{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s?api-version=2024-05-01"
            )),
            "Microsoft.Network/virtualNetworks/subnets"
        );
        assert_eq!(
            arm_resource_type(&format!("{sub}/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe")),
            "Microsoft.Network/privateEndpoints"
        );
        assert_eq!(
            arm_resource_type(&format!("{sub}/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints")),
            "Microsoft.Network/privateEndpoints"
        );
        assert_eq!(arm_resource_type(&format!("{sub}/providers/Microsoft.Network")), "Microsoft.Network");
        assert_eq!(arm_resource_type(&format!("{sub}/resourceGroups/rg")), "resourceGroups");
        assert_eq!(arm_resource_type(sub), "subscriptions");
        assert_eq!(arm_resource_type("https://example/"), "other");
    }
}
