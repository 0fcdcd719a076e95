//! The ARM REST client.
//!
//! One [`ArmClient`] per operator process (it is cheap to clone). It owns the reqwest client,
//! the token source, the retry and LRO policies, a semaphore per subscription (bounded
//! concurrency) and a lock per Network parent resource (serialised writes).
//!
//! Typed calls take a model type: `client.get::<VirtualNetwork>(&id)`, `client.put(&id, &body)`
//! (the api-version comes from the model, see [`crate::azure::api_versions`]).
//! Long-running writes come in two forms:
//! - blocking: [`ArmClient::put`], [`ArmClient::patch`], [`ArmClient::delete`] wait until the
//!   operation ends (bounded by [`LroPolicy::max_wait`], then [`ArmError::LroTimeout`] with the
//!   token);
//! - step-wise: [`ArmClient::begin_put`] etc. return [`Submitted`]; store its [`LroToken`] and
//!   call [`ArmClient::poll_once`] on later reconciles (or [`ArmClient::resume`] to wait).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedMutexGuard, Semaphore};
use tracing::{Instrument, debug, info_span, warn};
use url::Url;

use super::api_versions;
use super::auth::TokenSource;
use super::cloud::AzureCloud;
use super::error::{ArmError, ArmErrorKind, ArmErrorBody, Result, excerpt};
use super::id::ResourceId;
use super::locks::KeyedLocks;
use super::lro::{
    self, Initial, LroOperation, LroPolicy, LroToken, PollStatus, PollStep, PollUrlKind, Submitted, analyse_initial,
    analyse_poll,
};
use super::models::network::{Route, SecurityRule, Subnet};
use super::models::{ArmResource, Page, PatchBody, ProvisioningState, PutBody};
use super::observe::{ObserverHandle, operation_key};
use super::retry::{RetryDecision, RetryPolicy, parse_retry_after, secs};
use super::pacing::{self, Pacer, PacingConfig, PacingStats};
use super::time::{Sleeper, TokioSleeper};
use super::trust::ExtraTrust;

/// Client configuration (serde-friendly, so it can live in the operator's config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmClientConfig {
    /// Which cloud (ARM endpoint, authority, token audience).
    pub cloud: AzureCloud,
    /// Retries of individual requests.
    pub retry: RetryPolicy,
    /// Long-running operation polling.
    pub lro: LroPolicy,
    /// At most this many requests in flight per subscription.
    pub max_concurrency_per_subscription: usize,
    /// Per-request timeout.
    #[serde(with = "secs")]
    pub request_timeout: Duration,
    /// `User-Agent`.
    pub user_agent: String,
    /// The client-side limiter that keeps requests under ARM's limits.
    pub pacing: PacingConfig,
    /// CA certificates trusted beside the system's roots (`--arm-ca-file`); not serialized.
    #[serde(skip)]
    pub trust: ExtraTrust,
    /// Where requests and long-running operations are reported (metrics); not serialized.
    #[serde(skip)]
    pub observer: ObserverHandle,
}

impl Default for ArmClientConfig {
    fn default() -> Self {
        Self {
            cloud: AzureCloud::Public,
            retry: RetryPolicy::default(),
            lro: LroPolicy::default(),
            max_concurrency_per_subscription: 16,
            request_timeout: Duration::from_secs(60),
            user_agent: format!("moat/{}", env!("CARGO_PKG_VERSION")),
            pacing: PacingConfig::default(),
            trust: ExtraTrust::default(),
            observer: ObserverHandle::default(),
        }
    }
}

/// Conditional-request headers. Only for types whose provider honours them
/// ([`ArmResource::SUPPORTS_IF_MATCH`]); Network ignores ETags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `If-None-Match` (`*` = create only).
    pub if_none_match: Option<String>,
}

impl Conditions {
    /// No conditions.
    pub fn none() -> Self {
        Self::default()
    }
    /// `If-Match: <etag>`.
    pub fn if_match(etag: impl Into<String>) -> Self {
        Self {
            if_match: Some(etag.into()),
            if_none_match: None,
        }
    }
    /// `If-None-Match: *`: fail with 412 if the resource exists.
    pub fn create_only() -> Self {
        Self {
            if_match: None,
            if_none_match: Some("*".into()),
        }
    }
    fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }
}

/// The last `x-ms-ratelimit-remaining-*` values seen for a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSnapshot {
    /// Header suffix (`subscription-reads`, `subscription-writes`, ...) to remaining count.
    pub remaining: BTreeMap<String, i64>,
    /// When last updated.
    pub observed_at: jiff::Timestamp,
}

/// Counters, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent (including retries and polls).
    pub requests: u64,
    /// Retries after a failed attempt.
    pub retries: u64,
    /// Responses with status 429.
    pub throttled: u64,
    /// Status polls of long-running operations.
    pub polls: u64,
    /// Requests that waited for ARM's request limits before being sent (client-side pacing).
    pub paced: u64,
    /// Time spent in those waits, in milliseconds.
    pub paced_wait_ms: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    polls: AtomicU64,
}

/// A raw HTTP exchange result (2xx only; errors become [`ArmError`]).
#[derive(Debug)]
pub(crate) struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    pub(crate) url: String,
}

impl Raw {
    pub(crate) fn json(&self) -> Result<Option<serde_json::Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body).map(Some).map_err(|source| ArmError::from(ArmErrorKind::Decode {
            what: "JSON".into(),
            url: self.url.clone(),
            excerpt: excerpt(&self.body),
            source,
        }))
    }
}

fn decode<T: DeserializeOwned>(value: serde_json::Value, url: &str) -> Result<T> {
    let text = value.to_string();
    serde_json::from_value(value).map_err(|source| ArmError::from(ArmErrorKind::Decode {
        what: std::any::type_name::<T>().into(),
        url: url.to_string(),
        excerpt: excerpt(text.as_bytes()),
        source,
    }))
}

struct Inner {
    base: Url,
    http: reqwest::Client,
    token: Arc<dyn TokenSource>,
    config: ArmClientConfig,
    sleeper: Arc<dyn Sleeper>,
    permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    locks: KeyedLocks,
    rate_limits: Mutex<HashMap<String, RateLimitSnapshot>>,
    pacer: Pacer,
    counters: Counters,
}

/// Azure Resource Manager client. Clone freely.
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("base", &self.inner.base.as_str()).finish_non_exhaustive()
    }
}

/// Whether the provider of `resource_type` honours `If-Match` / `If-None-Match` (Private DNS:
/// zones, their VNet links and record sets; Microsoft.Network's other types ignore them).
pub fn honours_conditions(resource_type: &str) -> bool {
    let t = resource_type.to_ascii_lowercase();
    t == "microsoft.network/privatednszones" || t.starts_with("microsoft.network/privatednszones/")
}

fn subscription_key(url: &Url) -> String {
    let mut segs = url.path_segments().into_iter().flatten();
    while let Some(s) = segs.next() {
        if s.eq_ignore_ascii_case("subscriptions") {
            return segs.next().unwrap_or_default().to_ascii_lowercase();
        }
    }
    String::new()
}

/// The certificate problem behind a transport error, if that is what it is (rustls reports it
/// inside the connector's I/O error).
fn untrusted_certificate(e: &reqwest::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)) = err.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        // An io::Error's `source()` skips the error it wraps (the connector nests two): step into it.
        cur = match err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

impl ArmClient {
    /// A client with the real `tokio::time` sleeper.
    pub fn new(config: ArmClientConfig, token: Arc<dyn TokenSource>) -> Result<Self> {
        Self::with_sleeper(config, token, Arc::new(TokioSleeper))
    }

    /// A client with an injected [`Sleeper`] (tests use [`crate::azure::RecordingSleeper`]).
    pub fn with_sleeper(config: ArmClientConfig, token: Arc<dyn TokenSource>, sleeper: Arc<dyn Sleeper>) -> Result<Self> {
        if config.max_concurrency_per_subscription == 0 {
            return Err(ArmError::config("maxConcurrencyPerSubscription must be at least 1"));
        }
        let base = config.cloud.arm_endpoint();
        if base.cannot_be_a_base() {
            return Err(ArmError::config(format!("ARM endpoint {base} cannot be a base URL")));
        }
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone());
        let http = config.trust.apply(builder).build().map_err(|e| {
            if config.trust.is_empty() {
                ArmError::config(format!("building the HTTP client: {e}"))
            } else {
                ArmError::config(format!("building the HTTP client with the extra CA from {}: {e}", config.trust.source()))
            }
        })?;
        let pacer = Pacer::new(config.pacing.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                http,
                token,
                config,
                sleeper,
                permits: Mutex::new(HashMap::new()),
                locks: KeyedLocks::new(),
                rate_limits: Mutex::new(HashMap::new()),
                pacer,
                counters: Counters::default(),
            }),
        })
    }

    /// The ARM endpoint in use.
    pub fn endpoint(&self) -> &Url {
        &self.inner.base
    }

    /// The configuration in use.
    pub fn config(&self) -> &ArmClientConfig {
        &self.inner.config
    }

    /// Request counters.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        let p = self.inner.pacer.stats();
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            polls: c.polls.load(Ordering::Relaxed),
            paced: p.waited,
            paced_wait_ms: p.wait_ms,
        }
    }

    /// What the client-side limiter did (waits, 429s seen).
    pub fn pacing_stats(&self) -> PacingStats {
        self.inner.pacer.stats()
    }

    /// The limiter's estimate of every ARM meter it knows (`scope` is the subscription), now.
    pub fn pacing_snapshot(&self) -> Vec<(super::pacing::MeterKey, f64)> {
        self.inner.pacer.snapshot(self.inner.sleeper.now())
    }

    /// The last `x-ms-ratelimit-remaining-*` headers seen for `subscription`.
    pub fn rate_limits(&self, subscription: &str) -> Option<RateLimitSnapshot> {
        self.inner
            .rate_limits
            .lock()
            .ok()?
            .get(&subscription.to_ascii_lowercase())
            .cloned()
    }

    // -----------------------------------------------------------------------------------------
    // URLs

    /// `{endpoint}{id}?api-version={v}` with each path segment percent-encoded.
    pub fn resource_url(&self, id: &ResourceId, api_version: &str) -> Result<Url> {
        self.path_url(id.segments(), api_version)
    }

    pub(crate) fn path_url<'a>(&self, segments: impl IntoIterator<Item = &'a str>, api_version: &str) -> Result<Url> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|_| ArmError::config(format!("ARM endpoint {} cannot be a base URL", self.inner.base)))?
            .pop_if_empty()
            .extend(segments);
        url.query_pairs_mut().append_pair("api-version", api_version);
        Ok(url)
    }

    /// Resolves a URL from a response header or a saved token and refuses anything that is not
    /// on the configured ARM endpoint (scheme, host and port), so the bearer token never
    /// leaves for another host.
    pub(crate) fn vet_url(&self, raw: &str) -> Result<Url> {
        let base = &self.inner.base;
        let url = base.join(raw).map_err(|e| ArmError::protocol(format!("invalid poll URL '{raw}': {e}")))?;
        let same = url.scheme() == base.scheme()
            && url.host_str().map(str::to_ascii_lowercase) == base.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == base.port_or_known_default();
        if !same {
            return Err(ArmError::from(ArmErrorKind::UntrustedUrl {
                url: url.to_string(),
                expected: base.to_string(),
            }));
        }
        Ok(url)
    }

    fn api_version_of(id: &ResourceId) -> Result<&'static str> {
        let t = id.resource_type();
        api_versions::for_type(&t)
            .ok_or_else(|| ArmError::config(format!("{t} is not a resource type moat manages (no api-version in the table)")))
    }

    fn check_type<R: ArmResource>(id: &ResourceId) -> Result<()> {
        if id.is_type(R::RESOURCE_TYPE) {
            Ok(())
        } else {
            Err(ArmError::config(format!(
                "{id} is a {}, not a {}",
                id.resource_type(),
                R::RESOURCE_TYPE
            )))
        }
    }

    fn check_conditions<R: ArmResource>(cond: &Conditions) -> Result<()> {
        if cond.is_empty() || R::SUPPORTS_IF_MATCH {
            Ok(())
        } else {
            Err(ArmError::config(format!(
                "{} does not honour If-Match/If-None-Match; writes are serialised per parent instead",
                R::RESOURCE_TYPE
            )))
        }
    }

    // -----------------------------------------------------------------------------------------
    // Transport: one logical request with retries.

    fn permit_for(&self, url: &Url) -> Arc<Semaphore> {
        let key = subscription_key(url);
        let mut map = match self.inner.permits.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.inner.config.max_concurrency_per_subscription)))
            .clone()
    }

    fn observe_rate_limits(&self, url: &Url, headers: &HeaderMap) {
        const PREFIX: &str = "x-ms-ratelimit-remaining-";
        let found: BTreeMap<String, i64> = headers
            .iter()
            .filter_map(|(k, v)| {
                let suffix = k.as_str().strip_prefix(PREFIX)?;
                let n = v.to_str().ok()?.trim().parse::<i64>().ok()?;
                Some((suffix.to_string(), n))
            })
            .collect();
        if found.is_empty() {
            return;
        }
        let sub = subscription_key(url);
        debug!(subscription = %sub, remaining = ?found, "ARM rate limit remaining");
        if let Ok(mut map) = self.inner.rate_limits.lock() {
            let entry = map.entry(sub).or_insert_with(|| RateLimitSnapshot {
                remaining: BTreeMap::new(),
                observed_at: jiff::Timestamp::now(),
            });
            entry.remaining.extend(found);
            entry.observed_at = jiff::Timestamp::now();
        }
    }

    pub(crate) async fn send(&self, method: Method, url: Url, body: Option<&[u8]>, cond: &Conditions) -> Result<Raw> {
        let inner = &self.inner;
        let start = inner.sleeper.now();
        let permits = self.permit_for(&url);
        let mut attempt: u32 = 0;
        let mut refreshed_token = false;
        loop {
            attempt += 1;
            let result = {
                // ARM's limits first (may wait), then a concurrency slot: a request waiting for
                // its meters holds no slot.
                let admitted = inner.pacer.admit(&method, &url, inner.sleeper.as_ref()).await.map_err(|e| ArmError::config(e.to_string()))?;
                let _permit = permits
                    .acquire()
                    .await
                    .map_err(|_| ArmError::config("concurrency semaphore closed"))?;
                self.send_once(&method, &url, body, cond, admitted).await
            };
            let err = match result {
                Ok(raw) => return Ok(raw),
                Err(e) => e,
            };
            if err.status() == Some(401) && !refreshed_token {
                // A cached token may have been revoked or expired early: refresh once.
                refreshed_token = true;
                inner.token.invalidate();
                attempt -= 1;
                continue;
            }
            // A write whose answer was lost (5xx, timeout) may have been applied: the caller
            // reads the resource back and waits for ARM's operation rather than sending it again.
            if matches!(method, Method::PUT | Method::PATCH | Method::POST) && err.may_have_been_applied() {
                return Err(err);
            }
            let elapsed = inner.sleeper.now().saturating_duration_since(start);
            match inner.config.retry.decide(attempt, elapsed, &err, rand::random::<f64>()) {
                RetryDecision::RetryAfter(wait) => {
                    inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    warn!(%method, url = %url, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying ARM request");
                    inner.sleeper.sleep(wait).await;
                }
                RetryDecision::GiveUp => return Err(err),
            }
        }
    }

    /// One request; `admitted`: when the pacer counted it in (`Pacer::admit`).
    async fn send_once(&self, method: &Method, url: &Url, body: Option<&[u8]>, cond: &Conditions, admitted: std::time::Instant) -> Result<Raw> {
        let inner = &self.inner;
        let token = inner.token.token().await?;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut req = inner
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.secret())
            .header("x-ms-client-request-id", &client_request_id)
            .header(http::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(b.to_vec());
        }
        if let Some(m) = &cond.if_match {
            req = req.header(http::header::IF_MATCH, m);
        }
        if let Some(m) = &cond.if_none_match {
            req = req.header(http::header::IF_NONE_MATCH, m);
        }
        inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let t0 = std::time::Instant::now();
        let transport = |source: reqwest::Error| ArmError::from(ArmErrorKind::Transport {
            method: method.clone(),
            url: url.to_string(),
            source,
        });
        let observer = inner.config.observer.get();
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                observer.request(method.as_str(), url.path(), None, t0.elapsed());
                inner.pacer.unanswered(method, url, admitted, inner.sleeper.now());
                if let Some(why) = untrusted_certificate(&e) {
                    // Not transient: retrying cannot help, the operator must add the CA.
                    return Err(ArmError::config(format!(
                        "{method} {url}: the server's TLS certificate is not trusted ({why}); give its CA with --arm-ca-file (added to the system's roots) or SSL_CERT_FILE (replaces them)"
                    )));
                }
                return Err(transport(e));
            }
        };
        let status = resp.status();
        observer.request(method.as_str(), url.path(), Some(status.as_u16()), t0.elapsed());
        let headers = resp.headers().clone();
        let retry_after = parse_retry_after(&headers, jiff::Timestamp::now());
        // A 429 holds the other requests of its meters back as long as this one's retry waits.
        let hold = retry_after.map(|d| inner.config.retry.retry_after.clamp(d));
        inner.pacer.observe(method, url, status.as_u16(), &headers, hold, admitted, inner.sleeper.now());
        let bytes = resp.bytes().await.map_err(transport)?.to_vec();
        let request_id = header_str(&headers, "x-ms-request-id");
        debug!(
            %method, url = %url, status = status.as_u16(), client_request_id = %client_request_id,
            request_id = request_id.as_deref().unwrap_or(""), elapsed_ms = t0.elapsed().as_millis() as u64,
            "ARM response"
        );
        self.observe_rate_limits(url, &headers);
        if status == StatusCode::TOO_MANY_REQUESTS {
            inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
        }
        if status.is_success() {
            return Ok(Raw {
                status,
                headers,
                body: bytes,
                url: url.to_string(),
            });
        }
        let error = ArmErrorBody::parse(&bytes);
        Err(ArmError::from(ArmErrorKind::Http {
            method: method.clone(),
            url: url.to_string(),
            status: status.as_u16(),
            body_excerpt: error.is_none().then(|| excerpt(&bytes)),
            error,
            request_id,
            retry_after,
        }))
    }

    // -----------------------------------------------------------------------------------------
    // Reads

    /// GETs a resource. A missing resource is an error with `is_not_found()`.
    pub async fn get<R: ArmResource>(&self, id: &ResourceId) -> Result<R> {
        Self::check_type::<R>(id)?;
        let span = info_span!("arm", method = "GET", resource_type = R::RESOURCE_TYPE, id = %id);
        async {
            let url = self.resource_url(id, R::API_VERSION)?;
            let raw = self.send(Method::GET, url, None, &Conditions::none()).await?;
            let v = raw.json()?.unwrap_or(serde_json::Value::Null);
            decode(v, &raw.url)
        }
        .instrument(span)
        .await
    }

    /// GETs a resource; `None` on 404.
    pub async fn get_opt<R: ArmResource>(&self, id: &ResourceId) -> Result<Option<R>> {
        match self.get::<R>(id).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GETs any managed type as raw JSON (api-version from the table by the id's type).
    pub async fn get_json(&self, id: &ResourceId) -> Result<serde_json::Value> {
        let url = self.resource_url(id, Self::api_version_of(id)?)?;
        let raw = self.send(Method::GET, url, None, &Conditions::none()).await?;
        Ok(raw.json()?.unwrap_or(serde_json::Value::Null))
    }

    /// Lists a collection as raw JSON, following `nextLink`: `collection` is the path of the
    /// collection (`<vnet id>/subnets`, `<zone id>/A`); the api-version is its parent's.
    pub async fn list_json(&self, collection: &str) -> Result<Vec<serde_json::Value>> {
        let trimmed = collection.trim_end_matches('/');
        // The collection's own type when the table knows it (a resource group's NSGs, a VNet's
        // subnets), else its parent's (a zone's `A` record sets).
        let own = ResourceId::parse(&format!("{trimmed}/_")).ok().and_then(|probe| api_versions::for_type(&probe.resource_type()));
        let version = match own {
            Some(v) => v,
            None => {
                let parent = trimmed.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
                let parent = ResourceId::parse(parent).map_err(|e| ArmError::config(format!("{collection} is not under a resource: {e}")))?;
                Self::api_version_of(&parent)?
            }
        };
        let mut url = self.path_url(trimmed.split('/').filter(|s| !s.is_empty()), version)?;
        let mut out = Vec::new();
        loop {
            let raw = self.send(Method::GET, url, None, &Conditions::none()).await?;
            let page: Page<serde_json::Value> = decode(raw.json()?.unwrap_or(serde_json::Value::Null), &raw.url)?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = self.vet_url(&next)?,
                None => return Ok(out),
            }
        }
    }

    /// Submits a PUT or PATCH of a raw JSON body for any managed type (api-version from the
    /// table by the id's type), under the same per-parent serialisation as the typed writes.
    /// The body is sent as given: callers that PUT a resource moat does not wholly own must
    /// merge what they read first (read-merge-write), as `crate::plan` does.
    pub async fn begin_write_json(
        &self,
        op: LroOperation,
        id: &ResourceId,
        body: Option<&serde_json::Value>,
    ) -> Result<Submitted<serde_json::Value>> {
        let span = info_span!("arm", method = %op, resource_type = %id.resource_type(), id = %id);
        async {
            let version = Self::api_version_of(id)?;
            let bytes = body
                .map(serde_json::to_vec)
                .transpose()
                .map_err(|e| ArmError::config(format!("serializing the {op} body for {id}: {e}")))?;
            let _guard = self.write_lock(id).await;
            self.begin_write(op, id, version, bytes, &Conditions::none()).await
        }
        .instrument(span)
        .await
    }

    /// PUT that only creates (`If-None-Match: *`), for the resource types whose provider honours
    /// it ([`honours_conditions`]); ARM answers 412 `PreconditionFailed` when the resource exists.
    pub async fn begin_create_json(&self, id: &ResourceId, body: &serde_json::Value) -> Result<Submitted<serde_json::Value>> {
        let span = info_span!("arm", method = "PUT", resource_type = %id.resource_type(), id = %id, create_only = true);
        async {
            if !honours_conditions(&id.resource_type()) {
                return Err(ArmError::config(format!("{} does not honour If-None-Match; a create-only PUT cannot be sent", id.resource_type())));
            }
            let version = Self::api_version_of(id)?;
            let bytes = serde_json::to_vec(body).map_err(|e| ArmError::config(format!("serializing the PUT body for {id}: {e}")))?;
            let _guard = self.write_lock(id).await;
            self.begin_write(LroOperation::Put, id, version, Some(bytes), &Conditions::create_only()).await
        }
        .instrument(span)
        .await
    }

    /// Lists `R` under `scope`, following `nextLink`: for a child type the scope is the parent
    /// (`list::<Subnet>(&vnet)`), for a top-level type the resource group.
    pub async fn list<R: ArmResource>(&self, scope: &ResourceId) -> Result<Vec<R>> {
        let mut parts = R::RESOURCE_TYPE.split('/');
        let ns = parts.next().unwrap_or_default();
        let types: Vec<&str> = parts.collect();
        let mut segments: Vec<&str> = scope.segments().collect();
        match types.as_slice() {
            [top] => {
                if scope.provider().is_some() {
                    return Err(ArmError::config(format!("{} is listed in a resource group, not under {scope}", R::RESOURCE_TYPE)));
                }
                segments.extend(["providers", ns, top]);
            }
            [.., last] => {
                let parent_type = R::RESOURCE_TYPE.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
                if !scope.is_type(parent_type) {
                    return Err(ArmError::config(format!("{} is listed under a {parent_type}, not {scope}", R::RESOURCE_TYPE)));
                }
                segments.push(last);
            }
            [] => return Err(ArmError::config(format!("bad resource type {}", R::RESOURCE_TYPE))),
        }
        let mut url = self.path_url(segments, R::API_VERSION)?;
        let mut out = Vec::new();
        loop {
            let raw = self.send(Method::GET, url, None, &Conditions::none()).await?;
            let page: Page<R> = decode(raw.json()?.unwrap_or(serde_json::Value::Null), &raw.url)?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = self.vet_url(&next)?,
                None => return Ok(out),
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Writes

    async fn write_lock(&self, id: &ResourceId) -> Option<OwnedMutexGuard<()>> {
        match super::locks::parent_key(id, super::locks::NETWORK_PARENTS) {
            Some(key) => Some(self.inner.locks.lock(&key).await),
            None => None,
        }
    }

    /// Sends a write and classifies the initial response.
    async fn begin_write(
        &self,
        op: LroOperation,
        id: &ResourceId,
        api_version: &str,
        body: Option<Vec<u8>>,
        cond: &Conditions,
    ) -> Result<Submitted<serde_json::Value>> {
        let url = self.resource_url(id, api_version)?;
        let raw = match self.send(op.method(), url.clone(), body.as_deref(), cond).await {
            Ok(r) => r,
            Err(e) if op == LroOperation::Delete && e.is_not_found() => return Ok(Submitted::Done(None)),
            Err(e) => return Err(e),
        };
        let json = raw.json()?;
        let now = jiff::Timestamp::now();
        match analyse_initial(op, raw.status, &raw.headers, json.as_ref(), url.as_str(), &self.inner.config.lro, now) {
            Initial::Done => Ok(Submitted::Done(match op {
                LroOperation::Put | LroOperation::Patch => json,
                LroOperation::Delete | LroOperation::Post => None,
            })),
            Initial::Failed(state) => {
                let error = ArmErrorBody {
                    code: "ProvisioningFailed".into(),
                    message: format!("{op} of {id} answered with provisioningState {state}"),
                    ..Default::default()
                };
                Err(if state == ProvisioningState::Canceled {
                    ArmError::from(ArmErrorKind::LroCanceled {
                        operation: op,
                        resource_id: id.clone(),
                        error: Some(error),
                    })
                } else {
                    ArmError::from(ArmErrorKind::LroFailed {
                        operation: op,
                        resource_id: id.clone(),
                        error,
                    })
                })
            }
            Initial::Poll {
                url: poll,
                kind,
                retry_after,
                tracked,
            } => {
                let status_url = self.vet_url(&poll)?;
                debug!(%op, id = %id, poll = %status_url, ?kind, wait_s = retry_after.as_secs(), "operation accepted");
                self.inner.config.observer.get().operation_running(&operation_key(op.method().as_str(), id.as_str()), op.method().as_str(), &id.resource_type());
                Ok(Submitted::Pending {
                    token: LroToken {
                        operation: op,
                        resource_id: id.clone(),
                        api_version: api_version.to_string(),
                        status_url: status_url.to_string(),
                        url_kind: kind,
                        started_at: now,
                        tracked,
                    },
                    retry_after,
                })
            }
        }
    }

    fn typed<T: DeserializeOwned>(s: Submitted<serde_json::Value>, id: &ResourceId) -> Result<Submitted<T>> {
        Ok(match s {
            Submitted::Done(Some(v)) => Submitted::Done(Some(decode(v, id.as_str())?)),
            Submitted::Done(None) => Submitted::Done(None),
            Submitted::Pending { token, retry_after } => Submitted::Pending { token, retry_after },
        })
    }

    async fn begin_put_unlocked<B: PutBody>(
        &self,
        id: &ResourceId,
        body: &B,
        cond: &Conditions,
    ) -> Result<Submitted<B::Resource>> {
        Self::check_type::<B::Resource>(id)?;
        Self::check_conditions::<B::Resource>(cond)?;
        let mut body = Cow::Borrowed(body);
        if B::REPLACES_CHILDREN
            && let Some(current) = self.get_opt::<B::Resource>(id).await?
        {
            body.to_mut().keep_children(&current);
        }
        let bytes = serde_json::to_vec(&*body)
            .map_err(|e| ArmError::config(format!("serializing the PUT body for {id}: {e}")))?;
        let s = self
            .begin_write(LroOperation::Put, id, B::Resource::API_VERSION, Some(bytes), cond)
            .await?;
        Self::typed(s, id)
    }

    /// Submits a PUT (create or replace) and returns without waiting for the operation.
    /// Network parents are locked only while the request is sent.
    pub async fn begin_put<B: PutBody>(&self, id: &ResourceId, body: &B) -> Result<Submitted<B::Resource>> {
        self.begin_put_with(id, body, &Conditions::none()).await
    }

    /// [`Self::begin_put`] with conditional headers.
    pub async fn begin_put_with<B: PutBody>(
        &self,
        id: &ResourceId,
        body: &B,
        cond: &Conditions,
    ) -> Result<Submitted<B::Resource>> {
        let span = info_span!("arm", method = "PUT", resource_type = B::Resource::RESOURCE_TYPE, id = %id);
        async {
            let _guard = self.write_lock(id).await;
            self.begin_put_unlocked(id, body, cond).await
        }
        .instrument(span)
        .await
    }

    /// PUTs and waits for the operation; returns the resource from the final GET.
    /// For VNets, NSGs and route tables the current subnets / rules / routes are kept.
    pub async fn put<B: PutBody>(&self, id: &ResourceId, body: &B) -> Result<B::Resource> {
        self.put_with(id, body, &Conditions::none()).await
    }

    /// [`Self::put`] with conditional headers (Private DNS).
    pub async fn put_with<B: PutBody>(&self, id: &ResourceId, body: &B, cond: &Conditions) -> Result<B::Resource> {
        let span = info_span!("arm", method = "PUT", resource_type = B::Resource::RESOURCE_TYPE, id = %id);
        async {
            let _guard = self.write_lock(id).await;
            let s = self.begin_put_unlocked(id, body, cond).await?;
            self.finish(s, id).await
        }
        .instrument(span)
        .await
    }

    async fn begin_patch_unlocked<B: PatchBody>(
        &self,
        id: &ResourceId,
        body: &B,
        cond: &Conditions,
    ) -> Result<Submitted<B::Resource>> {
        Self::check_type::<B::Resource>(id)?;
        Self::check_conditions::<B::Resource>(cond)?;
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ArmError::config(format!("serializing the PATCH body for {id}: {e}")))?;
        let s = self
            .begin_write(LroOperation::Patch, id, B::Resource::API_VERSION, Some(bytes), cond)
            .await?;
        Self::typed(s, id)
    }

    /// Submits a PATCH without waiting.
    pub async fn begin_patch<B: PatchBody>(&self, id: &ResourceId, body: &B) -> Result<Submitted<B::Resource>> {
        let span = info_span!("arm", method = "PATCH", resource_type = B::Resource::RESOURCE_TYPE, id = %id);
        async {
            let _guard = self.write_lock(id).await;
            self.begin_patch_unlocked(id, body, &Conditions::none()).await
        }
        .instrument(span)
        .await
    }

    /// PATCHes and waits; returns the resource from the final GET.
    pub async fn patch<B: PatchBody>(&self, id: &ResourceId, body: &B) -> Result<B::Resource> {
        self.patch_with(id, body, &Conditions::none()).await
    }

    /// [`Self::patch`] with conditional headers.
    pub async fn patch_with<B: PatchBody>(&self, id: &ResourceId, body: &B, cond: &Conditions) -> Result<B::Resource> {
        let span = info_span!("arm", method = "PATCH", resource_type = B::Resource::RESOURCE_TYPE, id = %id);
        async {
            let _guard = self.write_lock(id).await;
            let s = self.begin_patch_unlocked(id, body, cond).await?;
            self.finish(s, id).await
        }
        .instrument(span)
        .await
    }

    /// Submits a DELETE without waiting (api-version from the id's type). A 404 counts as done.
    pub async fn begin_delete(&self, id: &ResourceId) -> Result<Submitted<()>> {
        let span = info_span!("arm", method = "DELETE", resource_type = %id.resource_type(), id = %id);
        async {
            let _guard = self.write_lock(id).await;
            self.begin_delete_unlocked(id, &Conditions::none()).await
        }
        .instrument(span)
        .await
    }

    async fn begin_delete_unlocked(&self, id: &ResourceId, cond: &Conditions) -> Result<Submitted<()>> {
        let v = Self::api_version_of(id)?;
        match self.begin_write(LroOperation::Delete, id, v, None, cond).await? {
            Submitted::Done(_) => Ok(Submitted::Done(None)),
            Submitted::Pending { token, retry_after } => Ok(Submitted::Pending { token, retry_after }),
        }
    }

    /// Deletes and waits. Deleting something absent succeeds.
    pub async fn delete(&self, id: &ResourceId) -> Result<()> {
        self.delete_with(id, &Conditions::none()).await
    }

    /// [`Self::delete`] with conditional headers (Private DNS).
    pub async fn delete_with(&self, id: &ResourceId, cond: &Conditions) -> Result<()> {
        let span = info_span!("arm", method = "DELETE", resource_type = %id.resource_type(), id = %id);
        async {
            let _guard = self.write_lock(id).await;
            let s = self.begin_delete_unlocked(id, cond).await?;
            self.wait(s).await.map(|_| ())
        }
        .instrument(span)
        .await
    }

    /// Waits for a PUT/PATCH and returns the resource; a write that completed without a body
    /// (e.g. 200 with an empty body) is followed by a GET.
    async fn finish<R: ArmResource>(&self, s: Submitted<R>, id: &ResourceId) -> Result<R> {
        match self.wait(s).await? {
            Some(r) => Ok(r),
            None => self.get::<R>(id).await,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Long-running operations

    /// Waits for a submitted operation (sleeping `retry_after` first when pending).
    pub async fn wait<T: DeserializeOwned>(&self, submitted: Submitted<T>) -> Result<Option<T>> {
        match submitted {
            Submitted::Done(t) => Ok(t),
            Submitted::Pending { token, retry_after } => {
                self.inner.sleeper.sleep(retry_after).await;
                self.resume_after(token, retry_after).await
            }
        }
    }

    /// Resumes waiting for a saved operation (e.g. after an operator restart): polls at once,
    /// then every `Retry-After`, until it ends or [`LroPolicy::max_wait`] passes
    /// ([`ArmError::LroTimeout`] carries the token to store again).
    pub async fn resume<T: DeserializeOwned>(&self, token: LroToken) -> Result<Option<T>> {
        self.resume_after(token, Duration::ZERO).await
    }

    async fn resume_after<T: DeserializeOwned>(&self, mut token: LroToken, already: Duration) -> Result<Option<T>> {
        let sleeper = &self.inner.sleeper;
        let start = sleeper.now();
        let max = self.inner.config.lro.max_wait;
        loop {
            match self.poll_once::<T>(&token).await? {
                PollStatus::Done(t) => return Ok(t),
                PollStatus::Failed(e) => return Err(e),
                PollStatus::Pending { retry_after, token: next } => {
                    let waited = already + sleeper.now().saturating_duration_since(start);
                    if waited + retry_after > max {
                        return Err(ArmError::from(ArmErrorKind::LroTimeout {
                            token: Box::new(next),
                            waited,
                        }));
                    }
                    sleeper.sleep(retry_after).await;
                    token = next;
                }
            }
        }
    }

    /// Polls a saved operation once. `Err` means the status could not be read (try again
    /// later); `Ok(PollStatus::Failed)` means the operation itself failed.
    pub async fn poll_once<T: DeserializeOwned>(&self, token: &LroToken) -> Result<PollStatus<T>> {
        self.poll_once_reading(token, true).await
    }

    /// [`Self::poll_once`] without the final GET of a PUT or PATCH that succeeded: the operation's
    /// own `Succeeded` is ARM's word that the write is applied, and `Done(None)` says so, for a
    /// caller that reads nothing of the resulting body. (A poll of the resource itself, or of a
    /// Location URL, still returns the body it got.)
    pub async fn poll_status_once<T: DeserializeOwned>(&self, token: &LroToken) -> Result<PollStatus<T>> {
        self.poll_once_reading(token, false).await
    }

    async fn poll_once_reading<T: DeserializeOwned>(&self, token: &LroToken, final_read: bool) -> Result<PollStatus<T>> {
        let span = info_span!("arm_poll", operation = %token.operation, id = %token.resource_id, kind = ?token.url_kind);
        // Polls and the final read of an operation finish started work, whoever started it.
        let priority = pacing::current_priority().max(pacing::Priority::Poll);
        let result = pacing::with_priority(priority, self.poll_once_inner(token, final_read)).instrument(span).await;
        let observer = self.inner.config.observer.get();
        let (method, key) = (token.operation.method(), operation_key(token.operation.method().as_str(), token.resource_id.as_str()));
        match &result {
            Ok(PollStatus::Pending { .. }) => observer.operation_running(&key, method.as_str(), &token.resource_id.resource_type()),
            Ok(PollStatus::Done(_) | PollStatus::Failed(_)) => observer.operation_ended(&key),
            // The status could not be read: the operation is still as it was.
            Err(_) => {}
        }
        result
    }

    async fn poll_once_inner<T: DeserializeOwned>(&self, token: &LroToken, final_read: bool) -> Result<PollStatus<T>> {
        let url = self.vet_url(&token.status_url)?;
        self.inner.counters.polls.fetch_add(1, Ordering::Relaxed);
        let raw = match self.send(Method::GET, url, None, &Conditions::none()).await {
            Ok(raw) => raw,
            Err(e) => {
                return match token.url_kind {
                    // A DELETE polled through the resource is done once the resource is gone.
                    PollUrlKind::Resource if token.operation == LroOperation::Delete && e.is_not_found() => {
                        Ok(PollStatus::Done(None))
                    }
                    // A Location URL answers with the operation's own final response, so a
                    // (non-retryable) error there is the operation failing.
                    PollUrlKind::Location if !e.is_retryable() && e.status().is_some() => {
                        let error = e.body().cloned().unwrap_or_else(|| ArmErrorBody {
                            code: format!("HTTP{}", e.status().unwrap_or_default()),
                            message: e.to_string(),
                            ..Default::default()
                        });
                        Ok(PollStatus::Failed(lro::failed(token, error)))
                    }
                    _ => Err(e),
                };
            }
        };
        let json = raw.json()?;
        let step = analyse_poll(token, raw.status, &raw.headers, json.as_ref(), &self.inner.config.lro, jiff::Timestamp::now());
        match step {
            PollStep::Pending { retry_after, new_url } => {
                let mut next = token.clone();
                if let Some(u) = new_url {
                    next.status_url = self.vet_url(&u)?.to_string();
                }
                Ok(PollStatus::Pending { retry_after, token: next })
            }
            PollStep::Failed(error) => Ok(PollStatus::Failed(lro::failed(token, error))),
            PollStep::Canceled(error) => Ok(PollStatus::Failed(ArmError::from(ArmErrorKind::LroCanceled {
                operation: token.operation,
                resource_id: token.resource_id.clone(),
                error,
            }))),
            PollStep::Succeeded => match token.operation {
                LroOperation::Delete | LroOperation::Post => Ok(PollStatus::Done(None)),
                LroOperation::Put | LroOperation::Patch => {
                    // Polling the resource itself already returned its final body; so does a
                    // Location URL, which answers with the operation's own final response.
                    let is_resource = |v: &serde_json::Value| v.get("id").and_then(serde_json::Value::as_str).is_some();
                    if (token.url_kind == PollUrlKind::Resource || (token.url_kind == PollUrlKind::Location && json.as_ref().is_some_and(is_resource)))
                        && let Some(v) = json
                    {
                        return Ok(PollStatus::Done(Some(decode(v, &raw.url)?)));
                    }
                    if !final_read {
                        return Ok(PollStatus::Done(None));
                    }
                    let url = self.resource_url(&token.resource_id, &token.api_version)?;
                    let fin = self.send(Method::GET, url, None, &Conditions::none()).await?;
                    let v = fin.json()?.unwrap_or(serde_json::Value::Null);
                    Ok(PollStatus::Done(Some(decode(v, &fin.url)?)))
                }
            },
        }
    }

    // -----------------------------------------------------------------------------------------
    // Child collections and read-merge-write

    /// PUTs one subnet through the subnets API (never through a VNet PUT), serialised per VNet.
    pub async fn put_subnet(&self, vnet: &ResourceId, name: &str, subnet: &Subnet) -> Result<Subnet> {
        self.put(&vnet.child("subnets", name)?, subnet).await
    }

    /// PUTs one security rule as a child of the NSG, serialised per NSG.
    pub async fn put_security_rule(&self, nsg: &ResourceId, name: &str, rule: &SecurityRule) -> Result<SecurityRule> {
        self.put(&nsg.child("securityRules", name)?, rule).await
    }

    /// PUTs one route as a child of the route table, serialised per route table.
    pub async fn put_route(&self, route_table: &ResourceId, name: &str, route: &Route) -> Result<Route> {
        self.put(&route_table.child("routes", name)?, route).await
    }

    /// Read-merge-write with PUT. `f` gets the current resource (`None` if absent) and returns
    /// the body to PUT, or `None` to leave it alone. When the provider honours ETags the PUT
    /// carries `If-Match` (or `If-None-Match: *` to create) and a 412 re-runs the cycle (up to 5
    /// times); otherwise the cycle runs under the parent lock. A body that serializes the same
    /// as the current resource is not sent. Returns the resulting resource (`None` if absent and
    /// left absent).
    pub async fn modify_put<B, F>(&self, id: &ResourceId, mut f: F) -> Result<Option<B::Resource>>
    where
        B: PutBody,
        B::Resource: Serialize + Clone,
        F: FnMut(Option<&B::Resource>) -> Option<B>,
    {
        let span = info_span!("arm", method = "PUT", resource_type = B::Resource::RESOURCE_TYPE, id = %id, rmw = true);
        async {
            let etags = B::Resource::SUPPORTS_IF_MATCH;
            for attempt in 1..=5u32 {
                let _guard = if etags { None } else { self.write_lock(id).await };
                let current = self.get_opt::<B::Resource>(id).await?;
                let Some(desired) = f(current.as_ref()) else {
                    return Ok(current);
                };
                if let Some(cur) = &current
                    && serde_json::to_value(cur).ok() == serde_json::to_value(&desired).ok()
                {
                    debug!(id = %id, "read-merge-write: no change");
                    return Ok(current);
                }
                let cond = match (etags, current.as_ref().and_then(|c| c.etag())) {
                    (false, _) => Conditions::none(),
                    (true, Some(etag)) => Conditions::if_match(etag),
                    (true, None) if current.is_some() => Conditions::none(),
                    (true, None) => Conditions::create_only(),
                };
                let submitted = match self.begin_put_unlocked(id, &desired, &cond).await {
                    Err(e) if e.is_precondition_failed() && attempt < 5 => {
                        debug!(id = %id, attempt, "read-merge-write lost a race (412); re-reading");
                        continue;
                    }
                    other => other?,
                };
                return self.finish(submitted, id).await.map(Some);
            }
            Err(ArmError::protocol(format!("read-merge-write of {id} kept losing races (412)")))
        }
        .instrument(span)
        .await
    }

    /// Read-merge-write with PATCH (e.g. a storage firewall): `f` gets the current resource and
    /// returns the PATCH body, or `None` for no change. Same ETag / lock rules as
    /// [`Self::modify_put`]. Fails with 404 if the resource does not exist.
    pub async fn modify_patch<B, F>(&self, id: &ResourceId, mut f: F) -> Result<B::Resource>
    where
        B: PatchBody,
        F: FnMut(&B::Resource) -> Option<B>,
    {
        let span = info_span!("arm", method = "PATCH", resource_type = B::Resource::RESOURCE_TYPE, id = %id, rmw = true);
        async {
            let etags = B::Resource::SUPPORTS_IF_MATCH;
            for attempt in 1..=5u32 {
                let _guard = if etags { None } else { self.write_lock(id).await };
                let current = self.get::<B::Resource>(id).await?;
                let Some(body) = f(&current) else {
                    return Ok(current);
                };
                let cond = match current.etag().filter(|_| etags) {
                    Some(e) => Conditions::if_match(e),
                    None => Conditions::none(),
                };
                let submitted = match self.begin_patch_unlocked(id, &body, &cond).await {
                    Err(e) if e.is_precondition_failed() && attempt < 5 => continue,
                    other => other?,
                };
                return self.finish(submitted, id).await;
            }
            Err(ArmError::protocol(format!("read-merge-write of {id} kept losing races (412)")))
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::StaticToken;

    fn client(endpoint: &str) -> ArmClient {
        let config = ArmClientConfig {
            cloud: AzureCloud::emulator(Url::parse(endpoint).unwrap()),
            ..Default::default()
        };
        ArmClient::new(config, Arc::new(StaticToken::new("t"))).unwrap()
    }

    #[test]
    fn urls_are_built_and_vetted() {
        let c = client("http://127.0.0.1:8080/prefix/");
        let id: ResourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms"
            .parse()
            .unwrap();
        let u = c.resource_url(&id, "2024-06-01").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/prefix/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms?api-version=2024-06-01"
        );
        assert!(c.vet_url("http://127.0.0.1:8080/op/1?api-version=x").is_ok());
        assert!(c.vet_url("/prefix/op/1").is_ok());
        assert!(matches!(c.vet_url("http://evil.example:8080/op"), Err(e) if matches!(e.kind(), ArmErrorKind::UntrustedUrl { .. })));
        assert!(matches!(c.vet_url("https://127.0.0.1:8080/op"), Err(e) if matches!(e.kind(), ArmErrorKind::UntrustedUrl { .. })));
        assert!(matches!(c.vet_url("http://127.0.0.1:9999/op"), Err(e) if matches!(e.kind(), ArmErrorKind::UntrustedUrl { .. })));
        assert_eq!(subscription_key(&u), "s");
    }

    #[test]
    fn config_serde_defaults() {
        let c: ArmClientConfig = serde_json::from_str(r#"{"cloud": {"name": "usGovernment"}, "maxConcurrencyPerSubscription": 4}"#).unwrap();
        assert_eq!(c.cloud, AzureCloud::UsGovernment);
        assert_eq!(c.max_concurrency_per_subscription, 4);
        assert_eq!(c.lro.default_poll_interval, Duration::from_secs(30));
        assert!(ArmClient::new(
            ArmClientConfig {
                max_concurrency_per_subscription: 0,
                ..Default::default()
            },
            Arc::new(StaticToken::new("t"))
        )
        .is_err());
    }
}
