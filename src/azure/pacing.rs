//! The client-side limiter: moat slows itself down *before* ARM answers 429.
//!
//! ARM meters requests per subscription and principal (reads, writes and deletes separately),
//! all principals of a subscription together, and per resource provider and region
//! (azure-arm-facts.md §4.3), and says how much is left in the
//! `x-ms-ratelimit-remaining-*` headers of every answer. One [`Pacer`] per [`ArmClient`] (one
//! per credential, i.e. per principal; every reconcile shares it) keeps an estimate of each of
//! those meters, per subscription:
//!
//! - it starts from the model of the cloud ([`RateModel`]: the public cloud's token buckets,
//!   250 + 25 s⁻¹ reads, 200 + 10 s⁻¹ writes and deletes; or the sovereign clouds' hourly
//!   windows), takes one from every meter a request passes before sending it, and refills as
//!   ARM does;
//! - every answer **resets the estimate to what ARM says is left** (less the requests still in
//!   flight), so other processes sharing the principal or the subscription are accounted for;
//!   the all-principal (`-global-`) meters and the providers' (`-resource-requests`,
//!   `-resource-entities-read`, keyed by provider family as the request path names it) start
//!   from their documented limits (Microsoft.Network 10,000 GET and 1,000 writes, Private DNS
//!   500 GET per 5 minutes), and any other provider's meter is learnt from its first header;
//! - a request waits while a meter it needs is short. Priorities decide who waits: writes and
//!   deletions ([`Priority::Write`], what PUT, PATCH, POST and DELETE always are) and the reads of
//!   converging work ([`Priority::Converge`], the default) may use a meter down to a small safety
//!   margin; steady-state reads ([`Priority::Steady`], set by the caller with [`with_priority`])
//!   leave a share of each meter ([`PacingConfig::steady_reserve`]) to the others while those
//!   use or wait for it (and for 10 s after), and use all of it otherwise; operation polls and
//!   their final reads ([`Priority::Poll`]) finish started work: an operation holds its parent
//!   in ARM until it ends, so converging reads leave them a small reserve
//!   ([`PacingConfig::poll_reserve`], 2%) while they want a meter; and the polls and reads made
//!   holding a parent other passes wait for now ([`Priority::Held`]) go first of all reads: the
//!   other polls leave them half that reserve while they want a meter;
//! - a 429 (which pacing should prevent) blocks the meters the request touched for `Retry-After`.
//!
//! The core ([`PaceBook`]) is pure and takes `now` as an argument; [`Pacer`] adds the waiting,
//! through the client's [`Sleeper`](super::time::Sleeper), so tests use a fake clock.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use url::Url;

use super::time::Sleeper;

/// Who goes first when a meter runs short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Priority {
    /// Reads of objects at steady state (a resync that is expected to change nothing).
    Steady,
    /// Reads of converging work: observe passes, checks. The default.
    Converge,
    /// Reads that finish what was started: operation polls and their final GETs. An operation
    /// holds its resource (and, for Network and Private DNS, its parent) until it ends, and what
    /// waits for it waits too; while polls want a meter, converging reads leave them a reserve.
    Poll,
    /// Polls and reads made holding the turn on a parent that other passes wait for now (a
    /// privatelink zone whose VNet links queue behind its creation): each of those passes waits
    /// for them. While they want a meter, polls leave them a reserve (half the polls').
    Held,
    /// Writes and deletions (every non-GET request).
    Write,
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `fut` with its ARM reads at priority `p` (writes are always [`Priority::Write`]).
pub async fn with_priority<F: Future>(p: Priority, fut: F) -> F::Output {
    PRIORITY.scope(p, fut).await
}

/// The read priority of the current task ([`Priority::Converge`] outside [`with_priority`]).
pub fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Converge)
}

/// ARM's operation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    Read,
    Write,
    Delete,
}

impl OpClass {
    pub fn of(method: &Method) -> Self {
        match *method {
            Method::GET | Method::HEAD => OpClass::Read,
            Method::DELETE => OpClass::Delete,
            _ => OpClass::Write,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            OpClass::Read => "reads",
            OpClass::Write => "writes",
            OpClass::Delete => "deletes",
        }
    }
}

/// Which of ARM's throttling models to assume before the headers say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RateModel {
    /// The public cloud's regional token buckets.
    #[default]
    Regional,
    /// Sovereign clouds: at most 12,000 reads, 1,200 writes and 15,000 deletes an hour.
    Hourly,
}

impl RateModel {
    /// Sovereign clouds still use the hourly model; the public cloud (and custom endpoints,
    /// until their headers say otherwise) the regional one.
    pub fn for_cloud(cloud: &super::AzureCloud) -> Self {
        match cloud {
            super::AzureCloud::UsGovernment | super::AzureCloud::China => RateModel::Hourly,
            _ => RateModel::Regional,
        }
    }
}

/// Pacing settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PacingConfig {
    /// Pace at all (off: send at once and rely on retries after 429).
    pub enabled: bool,
    /// The model to start from (a remaining count above the model's capacity switches a
    /// subscription's meter to the hourly model).
    pub model: RateModel,
    /// Share of each meter steady-state reads leave to writes and converging reads (0..1).
    pub steady_reserve: f64,
    /// Share of each meter converging reads leave to operation polls while polls want it (0..1).
    pub poll_reserve: f64,
    /// Requests of every meter left unused, against estimation error.
    pub margin: u32,
    /// Longest single wait before the meters are looked at again.
    #[serde(with = "super::retry::secs")]
    pub max_wait_step: Duration,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self { enabled: true, model: RateModel::Regional, steady_reserve: 0.5, poll_reserve: 0.02, margin: 2, max_wait_step: Duration::from_secs(30) }
    }
}

/// The shape of one ARM meter as the client mirrors it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Bucket { capacity: f64, refill_per_sec: f64 },
    Window { max: f64, window: Duration },
}

impl Shape {
    fn capacity(&self) -> f64 {
        match *self {
            Shape::Bucket { capacity, .. } => capacity,
            Shape::Window { max, .. } => max,
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);
/// Resource providers' limits are per 5 minutes (Microsoft.Network, Private DNS).
const PROVIDER_WINDOW: Duration = Duration::from_secs(300);
/// ARM's all-principal limit is 15× the per-principal one.
const GLOBAL_MULTIPLIER: f64 = 15.0;

fn model_shape(model: RateModel, class: OpClass) -> Shape {
    match (model, class) {
        (RateModel::Regional, OpClass::Read) => Shape::Bucket { capacity: 250.0, refill_per_sec: 25.0 },
        (RateModel::Regional, _) => Shape::Bucket { capacity: 200.0, refill_per_sec: 10.0 },
        (RateModel::Hourly, OpClass::Read) => Shape::Window { max: 12_000.0, window: HOUR },
        (RateModel::Hourly, OpClass::Write) => Shape::Window { max: 1_200.0, window: HOUR },
        (RateModel::Hourly, OpClass::Delete) => Shape::Window { max: 15_000.0, window: HOUR },
    }
}

/// One meter: `scope` is the lower-cased subscription (empty for tenant requests), `name` the
/// header suffix (`subscription-reads`, `subscription-resource-requests@microsoft.network`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeterKey {
    pub scope: String,
    pub name: String,
}

#[derive(Debug, Clone)]
struct Meter {
    shape: Shape,
    /// Bucket: tokens at `at`.
    tokens: f64,
    at: Instant,
    /// Window: this client's requests inside the window.
    sent: VecDeque<Instant>,
    /// Window: use by others (the server's count less ours) and until when it is assumed.
    others: f64,
    others_until: Option<Instant>,
    inflight: u32,
    blocked_until: Option<Instant>,
    /// Until when writes or converging reads count as wanting this meter (their last use or
    /// wait, plus [`URGENT_HOLD`]): steady-state reads leave them the reserve only meanwhile.
    urgent_until: Option<Instant>,
    /// Until when operation polls count as wanting this meter: converging reads leave them the
    /// poll reserve only meanwhile.
    polls_until: Option<Instant>,
    /// Until when reads of [`Priority::Held`] count as wanting this meter: polls leave them their
    /// reserve only meanwhile.
    held_until: Option<Instant>,
}

/// How long a write's or a converging read's use of a meter keeps steady-state reads to the
/// part of it beyond the reserve.
const URGENT_HOLD: Duration = Duration::from_secs(10);

impl Meter {
    fn new(shape: Shape, now: Instant) -> Self {
        Meter { shape, tokens: shape.capacity(), at: now, sent: VecDeque::new(), others: 0.0, others_until: None, inflight: 0, blocked_until: None, urgent_until: None, polls_until: None, held_until: None }
    }

    fn refresh(&mut self, now: Instant) {
        match self.shape {
            Shape::Bucket { capacity, refill_per_sec } => {
                let dt = now.saturating_duration_since(self.at).as_secs_f64();
                self.tokens = (self.tokens + dt * refill_per_sec).min(capacity);
                self.at = self.at.max(now);
            }
            Shape::Window { window, .. } => {
                while self.sent.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
                    self.sent.pop_front();
                }
                if self.others_until.is_some_and(|u| now >= u) {
                    self.others = 0.0;
                    self.others_until = None;
                }
            }
        }
        if self.blocked_until.is_some_and(|u| now >= u) {
            self.blocked_until = None;
        }
    }

    /// Requests left now (estimate).
    fn estimate(&self) -> f64 {
        match self.shape {
            Shape::Bucket { .. } => self.tokens,
            Shape::Window { max, .. } => max - self.sent.len() as f64 - self.others,
        }
    }

    /// How long until `need` requests are left (0 if they are), assuming nothing else is sent.
    fn wait_for(&self, need: f64, now: Instant) -> Duration {
        if let Some(u) = self.blocked_until {
            return u.saturating_duration_since(now);
        }
        let short = need - self.estimate();
        if short <= 0.0 {
            return Duration::ZERO;
        }
        match self.shape {
            Shape::Bucket { refill_per_sec, .. } if refill_per_sec > 0.0 => Duration::from_secs_f64(short / refill_per_sec),
            Shape::Bucket { .. } => HOUR,
            Shape::Window { window, .. } => {
                // Our own requests leave the window oldest first; others' use is forgotten at once
                // when its window ends.
                let k = short.ceil() as usize;
                let own = self.sent.get(k.saturating_sub(1)).map(|t| (*t + window).saturating_duration_since(now));
                let others = self.others_until.map(|u| u.saturating_duration_since(now));
                match (own, others) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) => a,
                    (None, Some(b)) => b,
                    (None, None) => window,
                }
            }
        }
    }

    fn take(&mut self, now: Instant) {
        match self.shape {
            Shape::Bucket { .. } => self.tokens -= 1.0,
            Shape::Window { .. } => self.sent.push_back(now),
        }
        self.inflight += 1;
    }

    /// ARM said `remaining` are left after this request (the answer of one we took for).
    ///
    /// Answers arrive in any order, so a count may be older than the estimate: a header only
    /// ever *lowers* the estimate (use by other callers); the refill raises it again.
    fn observe(&mut self, remaining: f64, now: Instant) {
        self.inflight = self.inflight.saturating_sub(1);
        let pending = self.inflight as f64;
        match self.shape {
            Shape::Bucket { capacity, .. } => {
                self.refresh(now);
                self.tokens = self.tokens.min(remaining - pending).min(capacity);
            }
            Shape::Window { max, window } => {
                let ours_counted = (self.sent.len() as f64 - pending).max(0.0);
                let others = ((max - remaining) - ours_counted).max(0.0);
                if self.others_until.is_none() || others > self.others {
                    self.others = others;
                    self.others_until = Some(now + window);
                }
            }
        }
    }

    /// Our request counted in at `admitted` was answered at `now`. ARM counted it when it
    /// arrived, somewhere in between (a request may wait after its admission for a connection
    /// slot, or for its task to run), so in a window it counts until `now + window`: counted from
    /// the admission it would leave our window before ARM's, and the request sent in its place
    /// be refused (5 × 429 in a 500-workspace run, each as its window turned).
    fn answered_at(&mut self, admitted: Instant, now: Instant) {
        if !matches!(self.shape, Shape::Window { .. }) || now <= admitted {
            return;
        }
        let i = self.sent.partition_point(|t| *t < admitted);
        if self.sent.get(i) == Some(&admitted) {
            self.sent.remove(i);
            let j = self.sent.partition_point(|t| *t <= now);
            self.sent.insert(j, now);
        }
    }

    fn answered_without_header(&mut self) {
        self.inflight = self.inflight.saturating_sub(1);
    }
}

/// What one request needs: the meters it passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub class: OpClass,
    pub priority: Priority,
    pub meters: Vec<MeterKey>,
}

/// The header suffixes an answer may carry for a request of `class`, and the meter each feeds.
fn header_names(class: OpClass, scope: &str, family: Option<&str>) -> Vec<(String, MeterKey)> {
    let key = |name: String| MeterKey { scope: scope.to_string(), name };
    let mut v = Vec::new();
    if scope.is_empty() {
        let n = if class == OpClass::Read { "tenant-reads" } else { "tenant-writes" };
        v.push((n.to_string(), key(n.to_string())));
        return v;
    }
    let p = class.plural();
    v.push((format!("subscription-{p}"), key(format!("subscription-{p}"))));
    v.push((format!("subscription-global-{p}"), key(format!("subscription-global-{p}"))));
    if let Some(f) = family {
        let n = if class == OpClass::Read { "subscription-resource-entities-read" } else { "subscription-resource-requests" };
        v.push((n.to_string(), key(format!("{n}@{f}"))));
    }
    v
}

/// The subscription of an ARM URL (lower-cased; empty when there is none).
pub fn subscription_of(url: &Url) -> String {
    let mut segs = url.path_segments().into_iter().flatten();
    while let Some(s) = segs.next() {
        if s.eq_ignore_ascii_case("subscriptions") {
            return segs.next().unwrap_or_default().to_ascii_lowercase();
        }
    }
    String::new()
}

/// The resource-provider family of an ARM URL, as ARM's provider limits are keyed:
/// `privatedns` for `Microsoft.Network/privateDnsZones…`, else the lower-cased namespace after
/// the last `providers` segment (operation polls included).
pub fn provider_family(url: &Url) -> Option<String> {
    let segs: Vec<&str> = url.path_segments()?.collect();
    let i = segs.iter().rposition(|s| s.eq_ignore_ascii_case("providers"))?;
    let ns = segs.get(i + 1)?.to_ascii_lowercase();
    let first = segs.get(i + 2).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    Some(if ns == "microsoft.network" && first == "privatednszones" { "privatedns".into() } else { ns })
}

/// Counters, for metrics and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacingStats {
    /// Requests that had to wait for a meter.
    pub waited: u64,
    /// Total time spent waiting, in milliseconds.
    pub wait_ms: u64,
    /// 429 answers seen (pacing should keep this at 0).
    pub throttled: u64,
}

/// The meters of one principal: pure, `now` is always given.
#[derive(Debug, Default)]
pub struct PaceBook {
    config: PacingConfig,
    meters: HashMap<MeterKey, Meter>,
    /// Subscriptions whose headers showed the hourly model (which has no all-principal limit).
    hourly: std::collections::HashSet<String>,
    /// The meter the last refused admission waited for, and its estimate then (for the log).
    last_short: Option<(String, f64)>,
}

impl PaceBook {
    pub fn new(config: PacingConfig) -> Self {
        Self { config, meters: HashMap::new(), hourly: Default::default(), last_short: None }
    }

    /// The meters a request passes, by URL and method.
    pub fn needs(&self, method: &Method, url: &Url, priority: Priority) -> Needs {
        let class = OpClass::of(method);
        let priority = if class == OpClass::Read { priority } else { Priority::Write };
        let scope = subscription_of(url);
        let family = provider_family(url);
        let meters = header_names(class, &scope, family.as_deref()).into_iter().map(|(_, k)| k).collect();
        Needs { class, priority, meters }
    }

    /// The meter for `key`: the model's for the per-principal and all-principal meters and the
    /// documented provider limits; any other only once ARM has reported it.
    fn known(&mut self, key: &MeterKey, class: OpClass, now: Instant) -> Option<&mut Meter> {
        if !self.meters.contains_key(key) {
            let model = if self.hourly.contains(&key.scope) { RateModel::Hourly } else { self.config.model };
            let shape = if is_primary(key, class) { model_shape(model, class) } else { documented_shape(key, class, model)? };
            self.meters.insert(key.clone(), Meter::new(shape, now));
        }
        let m = self.meters.get_mut(key)?;
        m.refresh(now);
        Some(m)
    }

    /// Takes what the request needs and returns `None`, or returns how long to wait before
    /// asking again (nothing taken).
    pub fn try_admit(&mut self, needs: &Needs, now: Instant) -> Option<Duration> {
        if !self.config.enabled {
            return None;
        }
        let config = self.config.clone();
        let mut wait = Duration::ZERO;
        let mut short = None;
        let urgent = needs.priority > Priority::Steady;
        for key in &needs.meters {
            let Some(m) = self.known(key, needs.class, now) else { continue };
            if urgent {
                m.urgent_until = Some(now + URGENT_HOLD);
            }
            if needs.priority == Priority::Poll {
                m.polls_until = Some(now + URGENT_HOLD);
            }
            if needs.priority == Priority::Held {
                m.held_until = Some(now + URGENT_HOLD);
            }
            // Steady-state reads hold back only while writes or converging reads want the meter,
            // converging reads only while polls do.
            let contended = m.urgent_until.is_some_and(|u| now < u);
            let polls_want = m.polls_until.is_some_and(|u| now < u);
            let priority = if contended { needs.priority } else { needs.priority.max(Priority::Converge) };
            let held_want = m.held_until.is_some_and(|u| now < u);
            let priority = if priority == Priority::Converge && !polls_want && !held_want { Priority::Poll } else { priority };
            let priority = if priority == Priority::Poll && !held_want { Priority::Held } else { priority };
            let need = (reserve(&config, &m.shape, priority) + 1.0).min(m.shape.capacity());
            let w = m.wait_for(need, now);
            if w > wait {
                wait = w;
                short = Some((key.name.clone(), m.estimate()));
            }
        }
        if !wait.is_zero() {
            self.last_short = short;
            return Some(wait.min(config.max_wait_step).max(Duration::from_millis(1)));
        }
        for key in &needs.meters {
            if let Some(m) = self.meters.get_mut(key) {
                m.take(now);
            }
        }
        None
    }

    /// The request `method url`, admitted at `admitted`, was answered (or failed) at `now`: its
    /// entries in windowed meters count from the answer ([`Meter::answered_at`]).
    pub fn answered(&mut self, method: &Method, url: &Url, admitted: Instant, now: Instant) {
        if !self.config.enabled {
            return;
        }
        for key in self.needs(method, url, Priority::Converge).meters {
            if let Some(m) = self.meters.get_mut(&key) {
                m.answered_at(admitted, now);
            }
        }
    }

    /// Feeds an answer's `x-ms-ratelimit-remaining-*` headers (and a 429's `Retry-After`) back.
    /// `status` 0: no answer at all (transport error).
    pub fn observe(&mut self, url: &Url, method: &Method, status: u16, headers: &HeaderMap, retry_after: Option<Duration>, now: Instant) {
        if !self.config.enabled {
            return;
        }
        let class = OpClass::of(method);
        let scope = subscription_of(url);
        let family = provider_family(url);
        for (header, key) in header_names(class, &scope, family.as_deref()) {
            let value = headers
                .get(format!("x-ms-ratelimit-remaining-{header}"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok());
            match value {
                Some(r) => self.observe_one(&key, class, r, now),
                None => {
                    if let Some(m) = self.meters.get_mut(&key) {
                        m.answered_without_header();
                    }
                }
            }
            if status == 429
                && let Some(ra) = retry_after
                && let Some(m) = self.meters.get_mut(&key)
            {
                m.blocked_until = Some(now + ra);
                if let Shape::Bucket { .. } = m.shape {
                    m.tokens = m.tokens.min(0.0);
                }
            }
        }
    }

    fn observe_one(&mut self, key: &MeterKey, class: OpClass, remaining: f64, now: Instant) {
        let model = if self.hourly.contains(&key.scope) { RateModel::Hourly } else { self.config.model };
        let primary = is_primary(key, class);
        let mut switched = false;
        match self.meters.get_mut(key) {
            Some(m) => {
                m.refresh(now);
                // More left than a token bucket holds: the hourly model is in force here.
                let hourly = model_shape(RateModel::Hourly, class);
                if primary && matches!(m.shape, Shape::Bucket { .. }) && remaining + 1.0 > m.shape.capacity() && remaining < hourly.capacity() {
                    tracing::info!(meter = %key.name, remaining, "pacing: ARM reports hourly limits; switching this meter to the hourly model");
                    *m = Meter::new(hourly, now);
                    m.take(now);
                    switched = true;
                }
                m.observe(remaining, now);
            }
            None => {
                // A meter learnt from its first header (a provider whose limits are not
                // documented): providers count per 5-minute window.
                let shape = match documented_shape(key, class, model) {
                    Some(Shape::Bucket { capacity, refill_per_sec }) => Shape::Bucket { capacity: capacity.max(remaining + 1.0), refill_per_sec },
                    Some(Shape::Window { max, window }) => Shape::Window { max: max.max(remaining + 1.0), window },
                    None => Shape::Window { max: remaining + 1.0, window: PROVIDER_WINDOW },
                };
                let mut m = Meter::new(shape, now);
                m.take(now);
                m.observe(remaining, now);
                self.meters.insert(key.clone(), m);
            }
        }
        if switched {
            // The hourly model has no all-principal limit.
            self.hourly.insert(key.scope.clone());
            self.meters.retain(|k, _| !(k.scope == key.scope && k.name.starts_with("subscription-global-")));
        }
    }

    /// Requests left on a meter now (for tests and diagnostics).
    pub fn remaining(&mut self, key: &MeterKey, now: Instant) -> Option<f64> {
        let m = self.meters.get_mut(key)?;
        m.refresh(now);
        Some(m.estimate())
    }

    /// Every meter known, with its estimate now.
    pub fn snapshot(&mut self, now: Instant) -> Vec<(MeterKey, f64)> {
        let mut v: Vec<(MeterKey, f64)> = self
            .meters
            .iter_mut()
            .map(|(k, m)| {
                m.refresh(now);
                (k.clone(), m.estimate())
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The documented limits beside the per-principal meters: the all-principal meter (15× the
/// per-principal one) and the provider limits ARM publishes (azure-arm-facts.md §4.3), so a
/// first burst is paced before any header arrives.
fn documented_shape(key: &MeterKey, class: OpClass, model: RateModel) -> Option<Shape> {
    if key.name.starts_with("subscription-global-") {
        return match model_shape(model, class) {
            Shape::Bucket { capacity, refill_per_sec } => Some(Shape::Bucket { capacity: capacity * GLOBAL_MULTIPLIER, refill_per_sec: refill_per_sec * GLOBAL_MULTIPLIER }),
            // The hourly model has no all-principal limit (a header would still be learnt).
            Shape::Window { .. } => None,
        };
    }
    let max = match key.name.as_str() {
        "subscription-resource-entities-read@privatedns" => 500.0,
        "subscription-resource-entities-read@microsoft.network" => 10_000.0,
        "subscription-resource-requests@microsoft.network" => 1_000.0,
        _ => return None,
    };
    Some(Shape::Window { max, window: PROVIDER_WINDOW })
}

/// The model's meter of a request's own class (not a learnt one).
fn is_primary(key: &MeterKey, class: OpClass) -> bool {
    key.name == format!("subscription-{}", class.plural()) || (key.scope.is_empty() && key.name.starts_with("tenant-"))
}

fn reserve(config: &PacingConfig, shape: &Shape, priority: Priority) -> f64 {
    let margin = config.margin as f64;
    match priority {
        Priority::Steady => margin + (config.steady_reserve.clamp(0.0, 0.95) * shape.capacity()).floor(),
        Priority::Converge => margin + (config.poll_reserve.clamp(0.0, 0.5) * shape.capacity()).floor(),
        Priority::Poll => margin + (config.poll_reserve.clamp(0.0, 0.5) / 2.0 * shape.capacity()).floor(),
        Priority::Held | Priority::Write => margin,
    }
}

/// Set once the process shuts down: every pacer stops waiting (see [`shut_down`]).
static SHUTDOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn shutdown_notify() -> &'static tokio::sync::Notify {
    static N: std::sync::OnceLock<tokio::sync::Notify> = std::sync::OnceLock::new();
    N.get_or_init(tokio::sync::Notify::new)
}

/// Ends every wait of every pacer in the process (`moat run` calls it on SIGTERM): a request
/// still waiting for ARM's limits fails at once instead of holding the graceful shutdown.
pub fn shut_down() {
    SHUTDOWN.store(true, Ordering::SeqCst);
    shutdown_notify().notify_waiters();
}

/// A request that was not sent because the process is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("moat is shutting down: the request waited for ARM's request limits and was not sent")]
pub struct ShuttingDown;

/// [`PaceBook`] with waiting: what [`ArmClient`](super::ArmClient) calls around every request.
pub struct Pacer {
    book: Mutex<PaceBook>,
    waited: AtomicU64,
    wait_ms: AtomicU64,
    throttled: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Pacer {
    pub fn new(config: PacingConfig) -> Self {
        Self {
            book: Mutex::new(PaceBook::new(config)),
            waited: AtomicU64::new(0),
            wait_ms: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Ends this pacer's waits (see [`shut_down`] for the whole process).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || SHUTDOWN.load(Ordering::SeqCst)
    }

    fn with_book<R>(&self, f: impl FnOnce(&mut PaceBook) -> R) -> R {
        let mut g = self.book.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Waits until the request may be sent, then counts it against its meters, and returns when
    /// (give it back with the answer: [`Pacer::observe`]); fails only when the process shuts down
    /// meanwhile.
    pub async fn admit(&self, method: &Method, url: &Url, sleeper: &dyn Sleeper) -> Result<Instant, ShuttingDown> {
        let priority = current_priority();
        let needs = self.with_book(|b| b.needs(method, url, priority));
        let start = sleeper.now();
        let mut waited = false;
        let admitted = loop {
            let now = sleeper.now();
            let Some((wait, short)) = self.with_book(|b| b.try_admit(&needs, now).map(|w| (w, b.last_short.clone()))) else { break now };
            if !waited {
                waited = true;
                let (meter, left) = short.unwrap_or_default();
                tracing::debug!(%method, url = %url, ?priority, wait_ms = wait.as_millis() as u64, %meter, left, "pacing: waiting for ARM's request limits");
            }
            // Registered before the flag is checked, so a close in between is not missed.
            let (mine, all) = (self.wake.notified(), shutdown_notify().notified());
            if self.is_closed() {
                return Err(ShuttingDown);
            }
            tokio::select! {
                _ = sleeper.sleep(wait) => {}
                _ = mine => {}
                _ = all => {}
            }
        };
        if waited {
            self.waited.fetch_add(1, Ordering::Relaxed);
            let ms = sleeper.now().saturating_duration_since(start).as_millis() as u64;
            self.wait_ms.fetch_add(ms, Ordering::Relaxed);
        }
        Ok(admitted)
    }

    /// Feeds an answer back (call once per admitted request that got an HTTP answer), with the
    /// moment [`Pacer::admit`] returned.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(&self, method: &Method, url: &Url, status: u16, headers: &HeaderMap, retry_after: Option<Duration>, admitted: Instant, now: Instant) {
        if status == 429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        self.with_book(|b| {
            b.answered(method, url, admitted, now);
            b.observe(url, method, status, headers, retry_after, now)
        });
    }

    /// A request that got no answer (transport error): its meters stop waiting for one.
    pub fn unanswered(&self, method: &Method, url: &Url, admitted: Instant, now: Instant) {
        self.with_book(|b| {
            b.answered(method, url, admitted, now);
            b.observe(url, method, 0, &HeaderMap::new(), None, now)
        });
    }

    pub fn stats(&self) -> PacingStats {
        PacingStats { waited: self.waited.load(Ordering::Relaxed), wait_ms: self.wait_ms.load(Ordering::Relaxed), throttled: self.throttled.load(Ordering::Relaxed) }
    }

    /// Every meter known, with its estimate now.
    pub fn snapshot(&self, now: Instant) -> Vec<(MeterKey, f64)> {
        self.with_book(|b| b.snapshot(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::time::RecordingSleeper;

    const SUB: &str = "00000000-0000-0000-0000-0000000000aa";

    fn url(rest: &str) -> Url {
        Url::parse(&format!("https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg/providers/{rest}?api-version=x")).unwrap()
    }

    fn key(name: &str) -> MeterKey {
        MeterKey { scope: SUB.into(), name: name.into() }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(format!("x-ms-ratelimit-remaining-{k}").as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    /// Admits as many as it can at `now`; returns how many and the wait it then asks for.
    fn drain(book: &mut PaceBook, needs: &Needs, now: Instant) -> (usize, Duration) {
        let mut n = 0;
        loop {
            match book.try_admit(needs, now) {
                None => n += 1,
                Some(w) => return (n, w),
            }
        }
    }

    #[test]
    fn reads_burst_to_the_bucket_then_follow_its_refill() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let read = book.needs(&Method::GET, &url("Microsoft.Storage/storageAccounts/s"), Priority::Converge);
        assert_eq!(
            read.meters,
            vec![key("subscription-reads"), key("subscription-global-reads"), key("subscription-resource-entities-read@microsoft.storage")],
            "its own meter, the all-principal one and the provider's (learnt once ARM reports them)"
        );
        // 250 tokens less the margin of 2.
        let (n, wait) = drain(&mut book, &read, t0);
        assert_eq!(n, 248);
        assert_eq!(wait, Duration::from_millis(40), "one token every 1/25 s");
        // One second later, 25 more.
        let (n, _) = drain(&mut book, &read, t0 + Duration::from_secs(1));
        assert_eq!(n, 25);
        // Writes and deletes have their own meters.
        let put = book.needs(&Method::PUT, &url("Microsoft.Storage/storageAccounts/s"), Priority::Steady);
        assert_eq!(put.priority, Priority::Write, "a write is a write whatever the caller's priority");
        assert_eq!(drain(&mut book, &put, t0 + Duration::from_secs(1)).0, 198);
    }

    #[test]
    fn answers_reset_the_estimate_to_what_arm_says() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let u = url("Microsoft.Storage/storageAccounts/s");
        let read = book.needs(&Method::GET, &u, Priority::Converge);
        for _ in 0..3 {
            assert!(book.try_admit(&read, t0).is_none());
        }
        // Another process used most of the bucket: ARM says 20 are left after our first request;
        // two of ours are still in flight.
        book.observe(&u, &Method::GET, 200, &headers(&[("subscription-reads", "20")]), None, t0);
        assert_eq!(book.remaining(&key("subscription-reads"), t0), Some(18.0));
        assert_eq!(drain(&mut book, &read, t0).0, 16);
        // A 429 blocks the meter for Retry-After, whatever the estimate.
        book.observe(&u, &Method::GET, 429, &headers(&[("subscription-reads", "0")]), Some(Duration::from_secs(7)), t0);
        let later = t0 + Duration::from_secs(5);
        assert!(matches!(book.try_admit(&read, later), Some(w) if w == Duration::from_secs(2)));
        assert!(book.try_admit(&read, t0 + Duration::from_secs(8)).is_none());
    }

    #[test]
    fn an_older_count_arriving_late_never_raises_the_estimate() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let u = url("Microsoft.Storage/storageAccounts/s");
        let read = book.needs(&Method::GET, &u, Priority::Converge);
        for _ in 0..3 {
            assert!(book.try_admit(&read, t0).is_none());
        }
        // ARM processed all three (247 left), but the first answer to arrive is the third's ...
        book.observe(&u, &Method::GET, 200, &headers(&[("subscription-reads", "247")]), None, t0);
        // ... and the first's (249) comes last: still 247, not 249.
        book.observe(&u, &Method::GET, 200, &headers(&[("subscription-reads", "248")]), None, t0);
        book.observe(&u, &Method::GET, 200, &headers(&[("subscription-reads", "249")]), None, t0);
        assert_eq!(book.remaining(&key("subscription-reads"), t0), Some(245.0), "pessimistic by the two then in flight, never optimistic");
    }

    #[test]
    fn steady_reads_leave_half_of_the_bucket_to_converging_work() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let u = url("Microsoft.KeyVault/vaults/v");
        let steady = book.needs(&Method::GET, &u, Priority::Steady);
        let converge = book.needs(&Method::GET, &u, Priority::Converge);
        // Converging work is using the meter: steady reads stop with 2 + 125 tokens left ...
        assert!(book.try_admit(&converge, t0).is_none());
        let (n, wait) = drain(&mut book, &steady, t0);
        assert_eq!(n, 249 - 127);
        assert!(wait > Duration::ZERO);
        // ... which converging reads may still use.
        assert_eq!(drain(&mut book, &converge, t0).0, 125);
        // Refill goes to whoever asks; steady reads only once the reserve is back.
        let t1 = t0 + Duration::from_secs(2);
        assert!(book.try_admit(&steady, t1).is_some());
        assert_eq!(drain(&mut book, &converge, t1).0, 50);
        // Once nothing but steady reads wants the meter (10 s on), they may use all of it.
        let t2 = t1 + Duration::from_secs(11);
        assert_eq!(drain(&mut book, &steady, t2).0, 248, "a full bucket less the margin");
    }

    #[test]
    fn converging_reads_leave_a_reserve_to_operation_polls_while_polls_want_the_meter() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let u = url("Microsoft.Network/privateEndpoints/pe");
        let poll = book.needs(&Method::GET, &url("Microsoft.Network/locations/westeurope/operations/1"), Priority::Poll);
        let converge = book.needs(&Method::GET, &u, Priority::Converge);
        // No poll wants the meter: converging reads use it down to the margin.
        assert_eq!(drain(&mut book, &converge, t0).0, 248);
        // Two seconds of refill (50 tokens); a poll asks: converging reads now stop 5 tokens
        // (2% of 250) above the margin ...
        let t1 = t0 + Duration::from_secs(2);
        assert!(book.try_admit(&poll, t1).is_none());
        assert_eq!(drain(&mut book, &converge, t1).0, 51 - 7);
        // ... which the polls may use.
        assert_eq!(drain(&mut book, &poll, t1).0, 5);
        // Once no poll has wanted the meter for 10 s, converging reads may use all of it again.
        let t2 = t1 + Duration::from_secs(11);
        assert_eq!(drain(&mut book, &converge, t2).0, 248);
    }

    #[test]
    fn polls_leave_a_reserve_to_reads_others_wait_for_while_those_want_the_meter() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let poll = book.needs(&Method::GET, &url("Microsoft.Network/locations/westeurope/operations/1"), Priority::Poll);
        let held = book.needs(&Method::GET, &url("Microsoft.Network/locations/westeurope/operations/2"), Priority::Held);
        let converge = book.needs(&Method::GET, &url("Microsoft.Network/privateEndpoints/pe"), Priority::Converge);
        // No held read wants the meter: polls use it down to the margin.
        assert_eq!(drain(&mut book, &poll, t0).0, 248);
        // Two seconds of refill (50 tokens); a held read asks: polls now stop 2 tokens (half of
        // the polls' 2% of 250, rounded down) above the margin, converging reads 5 ...
        let t1 = t0 + Duration::from_secs(2);
        assert!(book.try_admit(&held, t1).is_none());
        assert_eq!(drain(&mut book, &converge, t1).0, 51 - 7);
        assert_eq!(drain(&mut book, &poll, t1).0, 7 - 4);
        // ... and what is left is the held reads'.
        assert_eq!(drain(&mut book, &held, t1).0, 2);
        // Ten seconds after the last, the polls have it all again.
        let t2 = t1 + Duration::from_secs(11);
        assert_eq!(drain(&mut book, &poll, t2).0, 248);
    }

    #[test]
    fn provider_meters_are_learnt_from_their_headers_and_kept_per_family() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let zone = url("Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms");
        let vnet = url("Microsoft.Network/virtualNetworks/v");
        assert_eq!(provider_family(&zone).as_deref(), Some("privatedns"));
        assert_eq!(provider_family(&vnet).as_deref(), Some("microsoft.network"));
        let poll = Url::parse(&format!("https://x/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operations/1?api-version=x")).unwrap();
        assert_eq!(provider_family(&poll).as_deref(), Some("microsoft.network"));
        let dns_read = book.needs(&Method::GET, &zone, Priority::Converge);
        assert!(dns_read.meters.contains(&key("subscription-resource-entities-read@privatedns")));
        assert!(book.try_admit(&dns_read, t0).is_none());
        // Private DNS says 4 GETs are left in its 5-minute window.
        book.observe(&zone, &Method::GET, 200, &headers(&[("subscription-reads", "249"), ("subscription-resource-entities-read", "4")]), None, t0);
        let (n, wait) = drain(&mut book, &dns_read, t0);
        assert_eq!(n, 2, "4 left less the margin of 2");
        assert_eq!(wait, Duration::from_secs(30), "the window is 5 minutes; one wait step at most");
        // Network reads are not held back by Private DNS's meter.
        let net_read = book.needs(&Method::GET, &vnet, Priority::Converge);
        assert!(book.try_admit(&net_read, t0).is_none());
        // The first of our DNS reads leaves the window after 5 minutes.
        assert!(book.try_admit(&dns_read, t0 + Duration::from_secs(300)).is_none());
        // A provider whose limit is not documented is learnt from its first header.
        let st = url("Microsoft.Storage/storageAccounts/s");
        let st_read = book.needs(&Method::GET, &st, Priority::Converge);
        let t1 = t0 + Duration::from_secs(300);
        assert!(book.try_admit(&st_read, t1).is_none());
        book.observe(&st, &Method::GET, 200, &headers(&[("subscription-resource-entities-read", "3")]), None, t1);
        assert_eq!(book.remaining(&key("subscription-resource-entities-read@microsoft.storage"), t1), Some(3.0));
        assert_eq!(drain(&mut book, &st_read, t1).0, 1);
    }

    #[test]
    fn a_request_admitted_long_before_it_was_sent_counts_in_the_window_from_its_answer() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let zone = url("Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms");
        let dns = key("subscription-resource-entities-read@privatedns");
        let read = book.needs(&Method::GET, &zone, Priority::Converge);
        // Two bursts fill most of the window (the read bucket holds 250); the last request of the
        // second waits 3 s for a connection slot before it is sent.
        let t1 = t0 + Duration::from_secs(10);
        let (a, _) = drain(&mut book, &read, t0);
        let (b, _) = drain(&mut book, &read, t1);
        assert_eq!(book.remaining(&dns, t1), Some(500.0 - (a + b) as f64));
        for (t, n) in [(t0, a), (t1, b - 1)] {
            for _ in 0..n {
                book.answered(&Method::GET, &zone, t, t + Duration::from_millis(20));
            }
        }
        book.answered(&Method::GET, &zone, t1, t1 + Duration::from_secs(3));
        // ARM counted it on arrival, up to 3 s after we did: it is still in our window when
        // its burst has left it, and leaves it 5 minutes after its answer.
        let window = Duration::from_secs(300);
        assert_eq!(book.remaining(&dns, t0 + window + Duration::from_secs(1)), Some(500.0 - b as f64));
        assert_eq!(book.remaining(&dns, t1 + window + Duration::from_secs(1)), Some(499.0));
        assert_eq!(book.remaining(&dns, t1 + window + Duration::from_secs(3)), Some(500.0));
    }

    #[test]
    fn hourly_limits_are_recognised_from_the_headers() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let u = url("Microsoft.Storage/storageAccounts/s");
        let read = book.needs(&Method::GET, &u, Priority::Converge);
        assert!(book.try_admit(&read, t0).is_none());
        book.observe(&u, &Method::GET, 200, &headers(&[("subscription-reads", "11999")]), None, t0);
        assert_eq!(book.remaining(&key("subscription-reads"), t0), Some(11_999.0));
        // 12,000 an hour: no refill until our first request is an hour old.
        assert_eq!(drain(&mut book, &read, t0).0, 11_997);
        assert!(book.try_admit(&read, t0 + Duration::from_secs(1800)).is_some());
        assert!(book.try_admit(&read, t0 + Duration::from_secs(3600)).is_none());
        // The model can also be given up front (sovereign clouds).
        let mut gov = PaceBook::new(PacingConfig { model: RateModel::for_cloud(&crate::azure::AzureCloud::UsGovernment), ..Default::default() });
        let write = gov.needs(&Method::PUT, &u, Priority::Write);
        assert_eq!(drain(&mut gov, &write, t0).0, 1_198);
    }

    #[test]
    fn the_all_principal_meter_is_learnt_and_paced() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig::default());
        let u = url("Microsoft.Storage/storageAccounts/s");
        let read = book.needs(&Method::GET, &u, Priority::Converge);
        assert!(book.try_admit(&read, t0).is_none());
        // Other principals have used nearly all of the subscription's global bucket.
        book.observe(&u, &Method::GET, 200, &headers(&[("subscription-reads", "249"), ("subscription-global-reads", "5")]), None, t0);
        assert_eq!(drain(&mut book, &read, t0).0, 3);
    }

    #[test]
    fn pacing_off_sends_at_once() {
        let t0 = Instant::now();
        let mut book = PaceBook::new(PacingConfig { enabled: false, ..Default::default() });
        let read = book.needs(&Method::GET, &url("Microsoft.Storage/storageAccounts/s"), Priority::Steady);
        for _ in 0..1000 {
            assert!(book.try_admit(&read, t0).is_none());
        }
    }

    #[tokio::test]
    async fn the_pacer_waits_on_the_clients_clock_and_counts_its_waits() {
        let sleeper = RecordingSleeper::new();
        let pacer = Pacer::new(PacingConfig::default());
        let u = url("Microsoft.Storage/storageAccounts/s");
        for _ in 0..258 {
            pacer.admit(&Method::GET, &u, &sleeper).await.unwrap();
        }
        // 248 at once, then 10 more at 25 a second.
        assert_eq!(sleeper.total(), Duration::from_millis(400));
        let stats = pacer.stats();
        assert_eq!((stats.waited, stats.wait_ms, stats.throttled), (10, 400, 0));
        assert_eq!(current_priority(), Priority::Converge);
        let p = with_priority(Priority::Steady, async { current_priority() }).await;
        assert_eq!(p, Priority::Steady);
    }

    #[tokio::test]
    async fn closing_ends_the_waits() {
        let pacer = std::sync::Arc::new(Pacer::new(PacingConfig::default()));
        let u = url("Microsoft.Storage/storageAccounts/s");
        let sleeper = crate::azure::time::TokioSleeper;
        for _ in 0..248 {
            pacer.admit(&Method::GET, &u, &sleeper).await.unwrap();
        }
        // The next request waits (on the real clock); closing the pacer ends the wait at once.
        let waiting = {
            let pacer = pacer.clone();
            let u = u.clone();
            tokio::spawn(async move { with_priority(Priority::Steady, pacer.admit(&Method::GET, &u, &crate::azure::time::TokioSleeper)).await })
        };
        tokio::task::yield_now().await;
        pacer.close();
        let r = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("ends at once").expect("task");
        assert_eq!(r, Err(ShuttingDown));
    }
}
