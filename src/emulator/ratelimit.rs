//! ARM's request limits, as the emulator enforces them (azure-arm-facts.md §4.3).
//!
//! Two stages, as on Azure:
//!
//! 1. **ARM** (per region of ARM, i.e. per emulator): per subscription *and principal* (the
//!    bearer token's identity), one meter per operation type — reads (GET, HEAD), writes (PUT,
//!    PATCH, POST) and deletes. In the regional model (public cloud, the default) each is a token
//!    bucket (250 + 25 s⁻¹ reads, 200 + 10 s⁻¹ writes and deletes) and all principals of a
//!    subscription together get 15× that (the global limit). In the hourly model (sovereign
//!    clouds) each is at most 12,000 reads, 1,200 writes and 15,000 deletes in any hour, per
//!    principal. Requests outside a subscription use the tenant meters (reads; writes).
//! 2. **Resource providers**, per subscription and region of the resource, for the requests ARM
//!    let through: Microsoft.Network 10,000 GET and 1,000 PUT/PATCH/DELETE in any 5 minutes,
//!    Private DNS (`Microsoft.Network/privateDnsZones…`) 500 GET in any 5 minutes. A request is
//!    matched to a provider by its path (operation polls under `Microsoft.Network/locations/…`
//!    count as Microsoft.Network), so a client can key its own estimate the same way.
//!
//! A refused request answers 429 with `Retry-After` (whole seconds until the refusing meter has
//! room) and ARM's throttling body; it takes nothing from any meter. Every answer to an
//! authenticated request carries the remaining counts of the meters it touched:
//! `x-ms-ratelimit-remaining-subscription-{reads|writes|deletes}` (this principal),
//! `x-ms-ratelimit-remaining-subscription-global-{…}` (all principals, regional model),
//! `x-ms-ratelimit-remaining-tenant-{reads|writes}`, and for a provider's meter
//! `x-ms-ratelimit-remaining-subscription-resource-entities-read` (GET) or
//! `x-ms-ratelimit-remaining-subscription-resource-requests` (writes).
//!
//! Time comes from a [`Clock`]: the real one, or a manual one tests advance (no sleeps).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ArmError;

/// Where the emulator's rate limiting takes "now" from.
#[derive(Clone)]
pub struct Clock {
    base: Instant,
    /// Time added by [`Clock::advance`]; `None` for the real clock.
    manual: Option<Arc<Mutex<Duration>>>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::real()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            None => f.write_str("Clock(real)"),
            Some(_) => write!(f, "Clock(manual, +{:?})", self.elapsed()),
        }
    }
}

impl Clock {
    /// The system's monotonic clock.
    pub fn real() -> Self {
        Clock { base: Instant::now(), manual: None }
    }

    /// A clock that stands still until [`Clock::advance`] moves it.
    pub fn manual() -> Self {
        Clock { base: Instant::now(), manual: Some(Arc::new(Mutex::new(Duration::ZERO))) }
    }

    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(_) => self.base + self.elapsed(),
        }
    }

    fn elapsed(&self) -> Duration {
        match &self.manual {
            None => self.base.elapsed(),
            Some(m) => *m.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a manual clock forward; returns false (and does nothing) on the real clock.
    pub fn advance(&self, d: Duration) -> bool {
        match &self.manual {
            None => false,
            Some(m) => {
                *m.lock().unwrap_or_else(|e| e.into_inner()) += d;
                true
            }
        }
    }
}

/// Which of ARM's throttling models applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum ThrottleModel {
    /// The public cloud's regional token buckets (since 2024).
    #[default]
    Regional,
    /// The hourly limits sovereign clouds still use.
    Hourly,
}

/// One limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A token bucket: holds up to `capacity` tokens, gets `refill_per_sec` back every second.
    Bucket { capacity: u32, refill_per_sec: f64 },
    /// At most `max` requests in any `window` (sliding).
    Window { max: u32, window: Duration },
}

impl Limit {
    pub const fn bucket(capacity: u32, refill_per_sec: f64) -> Self {
        Limit::Bucket { capacity, refill_per_sec }
    }

    pub const fn per(max: u32, window: Duration) -> Self {
        Limit::Window { max, window }
    }

    /// The most requests the limit lets through at once.
    pub fn capacity(&self) -> u32 {
        match *self {
            Limit::Bucket { capacity, .. } => capacity,
            Limit::Window { max, .. } => max,
        }
    }

    /// Requests per second it sustains.
    pub fn sustained_per_sec(&self) -> f64 {
        match *self {
            Limit::Bucket { refill_per_sec, .. } => refill_per_sec,
            Limit::Window { max, window } => max as f64 / window.as_secs_f64().max(f64::MIN_POSITIVE),
        }
    }

    fn scaled(&self, k: u32) -> Limit {
        match *self {
            Limit::Bucket { capacity, refill_per_sec } => Limit::Bucket { capacity: capacity * k, refill_per_sec: refill_per_sec * k as f64 },
            Limit::Window { max, window } => Limit::Window { max: max * k, window },
        }
    }
}

/// The operation type ARM meters separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    Read,
    Write,
    Delete,
}

impl RateClass {
    pub fn of_method(m: &axum::http::Method) -> RateClass {
        match *m {
            axum::http::Method::GET | axum::http::Method::HEAD => RateClass::Read,
            axum::http::Method::DELETE => RateClass::Delete,
            _ => RateClass::Write,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            RateClass::Read => "reads",
            RateClass::Write => "writes",
            RateClass::Delete => "deletes",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            RateClass::Read => "read",
            RateClass::Write => "write",
            RateClass::Delete => "delete",
        }
    }
}

/// One limit per operation type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassLimits {
    pub reads: Limit,
    pub writes: Limit,
    pub deletes: Limit,
}

impl ClassLimits {
    pub fn of(&self, c: RateClass) -> Limit {
        match c {
            RateClass::Read => self.reads,
            RateClass::Write => self.writes,
            RateClass::Delete => self.deletes,
        }
    }
}

/// A resource provider's own limits, per subscription and region of the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderLimit {
    /// Matches request types starting with this (case-insensitive), e.g. `Microsoft.Network/privateDnsZones`.
    pub type_prefix: String,
    /// GETs.
    pub reads: Option<Limit>,
    /// PUT, PATCH, POST and DELETE.
    pub writes: Option<Limit>,
}

/// Every limit the emulator enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmLimits {
    pub model: ThrottleModel,
    /// Per subscription and principal.
    pub subscription: ClassLimits,
    /// All principals of a subscription together (regional model only).
    pub subscription_global: Option<ClassLimits>,
    /// Per principal, requests outside a subscription: reads, and writes (deletes count as writes).
    pub tenant_reads: Limit,
    pub tenant_writes: Limit,
    /// Resource providers; the first whose prefix matches applies.
    pub providers: Vec<ProviderLimit>,
}

const FIVE_MINUTES: Duration = Duration::from_secs(300);
const HOUR: Duration = Duration::from_secs(3600);

/// ARM's global limit is this many times the per-principal one.
pub const GLOBAL_MULTIPLIER: u32 = 15;

impl Default for ArmLimits {
    fn default() -> Self {
        Self::public_cloud()
    }
}

impl ArmLimits {
    /// The public cloud: regional token buckets, 15× global, provider limits.
    pub fn public_cloud() -> Self {
        let per_principal = ClassLimits { reads: Limit::bucket(250, 25.0), writes: Limit::bucket(200, 10.0), deletes: Limit::bucket(200, 10.0) };
        ArmLimits {
            model: ThrottleModel::Regional,
            subscription: per_principal,
            subscription_global: Some(ClassLimits {
                reads: per_principal.reads.scaled(GLOBAL_MULTIPLIER),
                writes: per_principal.writes.scaled(GLOBAL_MULTIPLIER),
                deletes: per_principal.deletes.scaled(GLOBAL_MULTIPLIER),
            }),
            tenant_reads: Limit::bucket(250, 25.0),
            tenant_writes: Limit::bucket(200, 10.0),
            providers: Self::provider_limits(),
        }
    }

    /// Sovereign clouds: per principal, 12,000 reads, 1,200 writes and 15,000 deletes an hour.
    pub fn sovereign_hourly() -> Self {
        ArmLimits {
            model: ThrottleModel::Hourly,
            subscription: ClassLimits { reads: Limit::per(12_000, HOUR), writes: Limit::per(1_200, HOUR), deletes: Limit::per(15_000, HOUR) },
            subscription_global: None,
            tenant_reads: Limit::per(12_000, HOUR),
            tenant_writes: Limit::per(1_200, HOUR),
            providers: Self::provider_limits(),
        }
    }

    pub fn for_model(model: ThrottleModel) -> Self {
        match model {
            ThrottleModel::Regional => Self::public_cloud(),
            ThrottleModel::Hourly => Self::sovereign_hourly(),
        }
    }

    /// Microsoft.Network: 10,000 GET and 1,000 PUT/DELETE per 5 minutes; Private DNS: 500 GET per 5 minutes.
    pub fn provider_limits() -> Vec<ProviderLimit> {
        vec![
            ProviderLimit { type_prefix: "Microsoft.Network/privateDnsZones".into(), reads: Some(Limit::per(500, FIVE_MINUTES)), writes: None },
            ProviderLimit {
                type_prefix: "Microsoft.Network/".into(),
                reads: Some(Limit::per(10_000, FIVE_MINUTES)),
                writes: Some(Limit::per(1_000, FIVE_MINUTES)),
            },
        ]
    }

    pub fn provider_for(&self, request_type: &str) -> Option<usize> {
        let t = request_type.to_ascii_lowercase();
        self.providers.iter().position(|p| t.starts_with(&p.type_prefix.to_ascii_lowercase()))
    }
}

/// The live state of one limit.
#[derive(Debug)]
struct Meter {
    limit: Limit,
    /// Bucket: tokens at `at`.
    tokens: f64,
    at: Instant,
    /// Window: times of the requests let through, oldest first.
    log: VecDeque<Instant>,
}

impl Meter {
    fn new(limit: Limit, now: Instant) -> Self {
        Meter { limit, tokens: limit.capacity() as f64, at: now, log: VecDeque::new() }
    }

    fn refresh(&mut self, now: Instant) {
        match self.limit {
            Limit::Bucket { capacity, refill_per_sec } => {
                let dt = now.saturating_duration_since(self.at).as_secs_f64();
                self.tokens = (self.tokens + dt * refill_per_sec).min(capacity as f64);
                self.at = self.at.max(now);
            }
            Limit::Window { window, .. } => {
                while self.log.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
                    self.log.pop_front();
                }
            }
        }
    }

    fn remaining(&self) -> u64 {
        match self.limit {
            Limit::Bucket { .. } => self.tokens.max(0.0).floor() as u64,
            Limit::Window { max, .. } => (max as usize).saturating_sub(self.log.len()) as u64,
        }
    }

    fn available(&self) -> bool {
        match self.limit {
            Limit::Bucket { .. } => self.tokens >= 1.0,
            Limit::Window { max, .. } => self.log.len() < max as usize,
        }
    }

    fn take(&mut self, now: Instant) {
        match self.limit {
            Limit::Bucket { .. } => self.tokens = (self.tokens - 1.0).max(0.0),
            Limit::Window { max, .. } => {
                if self.log.len() < max as usize {
                    self.log.push_back(now);
                }
            }
        }
    }

    /// Whole seconds (at least 1) until a request would be let through.
    fn retry_after(&self, now: Instant) -> u64 {
        let wait = match self.limit {
            Limit::Bucket { refill_per_sec, .. } => {
                let missing = (1.0 - self.tokens).max(0.0);
                if refill_per_sec > 0.0 { missing / refill_per_sec } else { 3600.0 }
            }
            Limit::Window { window, .. } => {
                self.log.front().map(|t| (*t + window).saturating_duration_since(now).as_secs_f64()).unwrap_or(0.0)
            }
        };
        (wait.ceil() as u64).max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MeterKey {
    Principal { sub: String, principal: String, class: RateClass },
    Global { sub: String, class: RateClass },
    Tenant { principal: String, write: bool },
    Provider { sub: String, provider: usize, region: String, write: bool },
}

impl MeterKey {
    fn header(&self) -> String {
        let p = "x-ms-ratelimit-remaining";
        match self {
            MeterKey::Principal { class, .. } => format!("{p}-subscription-{}", class.plural()),
            MeterKey::Global { class, .. } => format!("{p}-subscription-global-{}", class.plural()),
            MeterKey::Tenant { write: false, .. } => format!("{p}-tenant-reads"),
            MeterKey::Tenant { write: true, .. } => format!("{p}-tenant-writes"),
            MeterKey::Provider { write: false, .. } => format!("{p}-subscription-resource-entities-read"),
            MeterKey::Provider { write: true, .. } => format!("{p}-subscription-resource-requests"),
        }
    }
}

/// A request as the limits see it.
#[derive(Debug, Clone)]
pub struct RateRequest<'a> {
    pub subscription: Option<&'a str>,
    /// Identity of the bearer token (never the token itself).
    pub principal: &'a str,
    pub class: RateClass,
    /// The request's resource type (for provider limits) and the region of the resource.
    pub provider: Option<(&'a str, String)>,
}

/// What the limits decided.
#[derive(Debug, Clone, Default)]
pub struct RateOutcome {
    /// `x-ms-ratelimit-remaining-*` headers.
    pub headers: Vec<(String, String)>,
    /// The 429 to answer, if the request is refused.
    pub refused: Option<ArmError>,
}

/// Counters of what the limits did, for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateStats {
    /// Requests let through.
    pub admitted: u64,
    /// Requests refused with 429, by the meter that refused them (`subscription`, `global`, `tenant`, `provider`).
    pub throttled: std::collections::BTreeMap<String, u64>,
}

/// The meters of every subscription, principal and provider region seen so far.
#[derive(Debug, Default)]
pub struct RateLimiter {
    meters: HashMap<MeterKey, Meter>,
    pub stats: RateStats,
}

impl RateLimiter {
    fn meter(&mut self, key: &MeterKey, limit: Limit, now: Instant) -> &mut Meter {
        let m = self.meters.entry(key.clone()).or_insert_with(|| Meter::new(limit, now));
        if m.limit != limit {
            // The configuration changed: start this meter afresh with the new limit.
            *m = Meter::new(limit, now);
        }
        m.refresh(now);
        m
    }

    /// Decides one request: takes from every meter it passes, or refuses it (taking nothing
    /// from the meter that refused). With `enforce` false nothing is refused; the headers still
    /// count down (and stay at 0 while a meter is empty).
    pub fn admit(&mut self, limits: &ArmLimits, enforce: bool, now: Instant, tenant: &str, req: &RateRequest<'_>) -> RateOutcome {
        let mut out = RateOutcome::default();
        // Stage 1: ARM.
        let mut arm: Vec<(MeterKey, Limit)> = Vec::new();
        match req.subscription {
            Some(sub) => {
                let sub = sub.to_ascii_lowercase();
                arm.push((MeterKey::Principal { sub: sub.clone(), principal: req.principal.to_string(), class: req.class }, limits.subscription.of(req.class)));
                if let Some(g) = &limits.subscription_global {
                    arm.push((MeterKey::Global { sub, class: req.class }, g.of(req.class)));
                }
            }
            None => {
                let write = req.class != RateClass::Read;
                arm.push((MeterKey::Tenant { principal: req.principal.to_string(), write }, if write { limits.tenant_writes } else { limits.tenant_reads }));
            }
        }
        let blocked = arm.iter().find_map(|(k, l)| {
            let m = self.meter(k, *l, now);
            (!m.available()).then(|| (k.clone(), m.retry_after(now)))
        });
        if let (true, Some((key, secs))) = (enforce, blocked) {
            out.refused = Some(throttle_error(&key, req, tenant, secs));
            self.count_refusal(&key);
            out.headers = self.headers(&arm);
            return out;
        }
        for (k, l) in &arm {
            self.meter(k, *l, now).take(now);
        }
        out.headers = self.headers(&arm);

        // Stage 2: the resource provider, for what ARM let through.
        let provider = req.provider.as_ref().and_then(|(t, region)| {
            let idx = limits.provider_for(t)?;
            let p = &limits.providers[idx];
            let write = req.class != RateClass::Read;
            let limit = if write { p.writes } else { p.reads }?;
            let sub = req.subscription?.to_ascii_lowercase();
            Some((MeterKey::Provider { sub, provider: idx, region: region.to_ascii_lowercase(), write }, limit))
        });
        if let Some((k, l)) = provider {
            let m = self.meter(&k, l, now);
            if enforce && !m.available() {
                let secs = m.retry_after(now);
                out.refused = Some(throttle_error(&k, req, tenant, secs));
                self.count_refusal(&k);
            } else {
                m.take(now);
            }
            out.headers.extend(self.headers(&[(k, l)]));
        }
        if out.refused.is_none() {
            self.stats.admitted += 1;
        }
        out
    }

    fn headers(&self, keys: &[(MeterKey, Limit)]) -> Vec<(String, String)> {
        keys.iter().filter_map(|(k, _)| self.meters.get(k).map(|m| (k.header(), m.remaining().to_string()))).collect()
    }

    fn count_refusal(&mut self, key: &MeterKey) {
        let what = match key {
            MeterKey::Principal { .. } => "subscription",
            MeterKey::Global { .. } => "global",
            MeterKey::Tenant { .. } => "tenant",
            MeterKey::Provider { .. } => "provider",
        };
        *self.stats.throttled.entry(what.to_string()).or_default() += 1;
    }
}

fn throttle_error(key: &MeterKey, req: &RateRequest<'_>, tenant: &str, secs: u64) -> ArmError {
    let word = req.class.word();
    let (code, message) = match key {
        MeterKey::Principal { sub, principal, .. } => (
            "SubscriptionRequestsThrottled",
            format!("Number of '{word}' requests for subscription '{sub}' actor '{principal}' exceeded. Please try again after '{secs}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling"),
        ),
        MeterKey::Global { sub, .. } => (
            "SubscriptionRequestsThrottled",
            format!("Number of '{word}' requests for subscription '{sub}' exceeded the limit of all principals together. Please try again after '{secs}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling"),
        ),
        MeterKey::Tenant { principal, .. } => (
            "TenantRequestsThrottled",
            format!("Number of '{word}' requests for tenant '{tenant}' actor '{principal}' exceeded. Please try again after '{secs}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling"),
        ),
        MeterKey::Provider { write, .. } => (
            "TooManyRequests",
            format!(
                "The request is being throttled as the limit has been reached for operation type - {}_ObservationWindow_00:05:00. Please try again after '{secs}' seconds. For more information, see - https://aka.ms/msdn-throttling",
                if *write { "Write" } else { "Read" }
            ),
        ),
    };
    let mut e = ArmError::new(StatusCode::TOO_MANY_REQUESTS, code, message);
    e.retry_after = Some(secs);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(principal: &'a str, class: RateClass) -> RateRequest<'a> {
        RateRequest { subscription: Some("SUB"), principal, class, provider: None }
    }

    fn header(o: &RateOutcome, name: &str) -> Option<u64> {
        o.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok())
    }

    #[test]
    fn public_numbers_are_the_documented_ones() {
        let l = ArmLimits::public_cloud();
        assert_eq!(l.subscription.reads, Limit::bucket(250, 25.0));
        assert_eq!(l.subscription.writes, Limit::bucket(200, 10.0));
        assert_eq!(l.subscription.deletes, Limit::bucket(200, 10.0));
        let g = l.subscription_global.expect("global limit");
        assert_eq!(g.reads, Limit::bucket(3750, 375.0));
        assert_eq!(g.writes, Limit::bucket(3000, 150.0));
        let h = ArmLimits::sovereign_hourly();
        assert_eq!((h.subscription.reads, h.subscription.writes, h.subscription.deletes), (Limit::per(12_000, HOUR), Limit::per(1_200, HOUR), Limit::per(15_000, HOUR)));
        assert!(h.subscription_global.is_none());
        let net = l.provider_for("Microsoft.Network/virtualNetworks/subnets").map(|i| &l.providers[i]).expect("network");
        assert_eq!((net.reads, net.writes), (Some(Limit::per(10_000, FIVE_MINUTES)), Some(Limit::per(1_000, FIVE_MINUTES))));
        let dns = l.provider_for("microsoft.network/privatednszones/virtualNetworkLinks").map(|i| &l.providers[i]).expect("dns");
        assert_eq!((dns.reads, dns.writes), (Some(Limit::per(500, FIVE_MINUTES)), None));
        assert!(l.provider_for("Microsoft.Storage/storageAccounts").is_none());
    }

    #[test]
    fn bucket_refills_and_refuses_with_retry_after() {
        let clock = Clock::manual();
        let mut rl = RateLimiter::default();
        let limits = ArmLimits { subscription_global: None, ..ArmLimits::public_cloud() };
        for i in 0..200u64 {
            let o = rl.admit(&limits, true, clock.now(), "t", &req("p", RateClass::Write));
            assert!(o.refused.is_none());
            assert_eq!(header(&o, "x-ms-ratelimit-remaining-subscription-writes"), Some(199 - i));
        }
        let o = rl.admit(&limits, true, clock.now(), "t", &req("p", RateClass::Write));
        let e = o.refused.clone().expect("empty bucket refuses");
        assert_eq!((e.status.as_u16(), e.code.as_str(), e.retry_after), (429, "SubscriptionRequestsThrottled", Some(1)));
        assert_eq!(header(&o, "x-ms-ratelimit-remaining-subscription-writes"), Some(0));
        // Reads and deletes have their own buckets.
        assert!(rl.admit(&limits, true, clock.now(), "t", &req("p", RateClass::Delete)).refused.is_none());
        // 10 writes a second come back: half a token after 50 ms is not one.
        clock.advance(Duration::from_millis(50));
        assert!(rl.admit(&limits, true, clock.now(), "t", &req("p", RateClass::Write)).refused.is_some());
        clock.advance(Duration::from_millis(1000));
        for _ in 0..10 {
            assert!(rl.admit(&limits, true, clock.now(), "t", &req("p", RateClass::Write)).refused.is_none());
        }
        assert!(rl.admit(&limits, true, clock.now(), "t", &req("p", RateClass::Write)).refused.is_some());
        assert_eq!(rl.stats.throttled.get("subscription"), Some(&3));
    }

    #[test]
    fn not_enforced_only_reports() {
        let clock = Clock::manual();
        let mut rl = RateLimiter::default();
        let limits = ArmLimits::public_cloud();
        for _ in 0..300 {
            assert!(rl.admit(&limits, false, clock.now(), "t", &req("p", RateClass::Read)).refused.is_none());
        }
        let o = rl.admit(&limits, false, clock.now(), "t", &req("p", RateClass::Read));
        assert_eq!(header(&o, "x-ms-ratelimit-remaining-subscription-reads"), Some(0));
    }

    #[test]
    fn window_counts_the_last_interval() {
        let clock = Clock::manual();
        let mut m = Meter::new(Limit::per(3, Duration::from_secs(10)), clock.now());
        for _ in 0..3 {
            m.refresh(clock.now());
            assert!(m.available());
            m.take(clock.now());
            clock.advance(Duration::from_secs(2));
        }
        m.refresh(clock.now());
        assert!(!m.available());
        // The first request (t=0) leaves the window at t=10; now is t=6.
        assert_eq!(m.retry_after(clock.now()), 4);
        clock.advance(Duration::from_secs(4));
        m.refresh(clock.now());
        assert_eq!(m.remaining(), 1);
    }
}
