//! A local emulator of the Azure Resource Manager (ARM) REST API for the resource types moat
//! converges. Used by tests, benchmarks and the demo; not part of the production image (the
//! `emulator` cargo feature).
//!
//! # Starting it
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use moat::emulator::{EmulatorConfig, start};
//! let emu = start(EmulatorConfig { polls_to_complete: 1, retry_after_secs: 0, ..Default::default() }
//!     .with_resource_group("00000000-0000-0000-0000-000000000000", "rg-ml")).await?;
//! // ARM base URL, e.g. https://127.0.0.1:41234 — use it instead of https://management.azure.com
//! println!("{}", emu.base_url);
//! let http = emu.http_client().expect("a client trusting the emulator's CA");
//! emu.admin.settle(); // complete every running operation
//! # Ok(()) }
//! ```
//!
//! # HTTPS, as ARM
//!
//! The emulator serves HTTPS only ([`tls`]): it generates a CA at start and a certificate for
//! `localhost`, `127.0.0.1` and `::1`. [`RunningEmulator::ca_pem`] (or `moat emulator --ca-file`)
//! is the CA to trust; every URL it returns (`Azure-AsyncOperation`, `Location`, `nextLink`) is
//! absolute https.
//!
//! # Managed identity
//!
//! `GET /msi/token?resource=…&api-version=2019-08-01` with `X-IDENTITY-HEADER` ([`identity`]) is
//! an App Service managed-identity endpoint: point a client's `IDENTITY_ENDPOINT` at
//! [`RunningEmulator::identity_endpoint`] and `IDENTITY_HEADER` at
//! [`RunningEmulator::identity_header`]. Its tokens are valid on the ARM surface (besides
//! `require_token`), and each identity is its own principal for ARM's limits.
//!
//! # ARM's request limits
//!
//! [`ratelimit`]: per subscription and principal, all principals of a subscription together
//! (15×), the tenant, Microsoft.Network and Private DNS per region; the public cloud's token
//! buckets or, with [`ThrottleModel::Hourly`], the sovereign clouds' hourly limits. Every answer
//! carries the `x-ms-ratelimit-remaining-*` headers; with `enforce_rate_limits` an exhausted limit
//! answers 429 with `Retry-After` and ARM's throttling body. Time comes from [`Clock`], manual in
//! tests.
//!
//! Also: [`serve`] / [`serve_with_shutdown`] on your own listener, [`router`] for in-process use,
//! and the `moat emulator` subcommand ([`cli::run_cli`]).
//!
//! # ARM surface
//!
//! Paths are matched case-insensitively (`resourceGroups`/`resourcegroups`, namespaces, types,
//! names); the casing first written is kept in `id`/`name`. Every request needs `api-version`
//! (missing: 400 `MissingApiVersionParameter`; malformed: 400 `InvalidApiVersionParameter`;
//! not one the service accepts: 400 `NoRegisteredProviderFound`); see
//! [`types::supported_api_versions`].
//!
//! | Path | Methods |
//! |---|---|
//! | `/subscriptions/{s}` | GET |
//! | `/subscriptions/{s}/resourcegroups[/{rg}]` | GET (list), PUT, GET, HEAD, PATCH, DELETE (202 + Location) |
//! | `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{childType}/{childName}]` | PUT, PATCH, GET, DELETE |
//! | same without the last name | GET: `{value, nextLink}` paged by `page_size`, `$skiptoken` continuation |
//! | `/subscriptions/{s}/providers/{ns}/{type}` | GET: subscription-wide list |
//! | `/subscriptions/{s}/providers/{ns}/locations/{loc}/operations/{id}` | GET: the Azure-AsyncOperation status resource |
//! | `/subscriptions/{s}/providers/{ns}/locations/{loc}/operationResults/{id}` (`asyncoperations` for Storage) | GET: Location poll (202 while running; then 200 + body, or 204 after a delete) |
//! | `/subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults`, `.../locations/{loc}/deletedVaults/{name}[/purge]` | GET, POST (purge) |
//! | `/subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values` | GET (api-version `2015-04-01`, `$filter`, `$select`): the Activity Log ([`activity`]) |
//!
//! Types: virtual networks + subnets, NSGs + security rules (+ `defaultSecurityRules`), route
//! tables + routes, private endpoints + private DNS zone groups, network interfaces (read-only,
//! created for private endpoints), private DNS zones + virtual network links + record sets
//! (`A`, `AAAA`, `CNAME`, `MX`, `PTR`, `SOA`, `SRV`, `TXT`, list `ALL`), ML workspaces +
//! computes, storage accounts, key vaults, container registries, `microsoft.insights/components`.
//!
//! Wire behaviour per family (from the saved OpenAPI specs):
//! - Network (and ACR, ML computes): PUT 201 (create) / 200 (update) with the body,
//!   `Azure-AsyncOperation` + `Retry-After`; DELETE 202 + `Location` + `Azure-AsyncOperation`.
//! - Private DNS zones/links: as Network plus `Location` on PUT; ETag, `If-Match` /
//!   `If-None-Match` (412 `PreconditionFailed`). Record sets are synchronous.
//! - ML workspaces: PUT / PATCH 202 + `Location` + `Azure-AsyncOperation`; DELETE 202.
//! - Storage: create 202 + `Location` (`.../asyncoperations/{id}?monitor=true`), update PUT and
//!   PATCH 200; DELETE 200/204.
//! - Key Vault, Application Insights: synchronous; a deleted vault is soft-deleted.
//!
//! An operation shows `provisioningState` `Updating`/`Creating`/`Deleting` (status `InProgress`)
//! for `polls_to_complete` polls — a poll is a GET of the status URL, of the Location URL or of
//! the resource itself — and completes on the next one. `polls_to_complete = 0` completes at once
//! (headers still sent). While it runs, any write to the resource, its parent or its children
//! answers 409 `AnotherOperationInProgress`.
//!
//! Every answer has `x-ms-request-id`, `x-ms-correlation-request-id` (echoed if sent),
//! `x-ms-client-request-id` (echoed) and, for an authenticated request, the
//! `x-ms-ratelimit-remaining-*` headers of the limits it passed (see above). With
//! `require_token`, a missing or wrong `Authorization: Bearer` answers 401
//! `AuthenticationFailed` / `InvalidAuthenticationToken` (`"*"` accepts any token; tokens of the
//! managed-identity endpoint are always accepted until they expire).
//!
//! # Admin API (`/_emulator/`, not logged, no auth)
//!
//! | Route | Body / answer |
//! |---|---|
//! | `GET /_emulator/health` | `{"ok": true}` |
//! | `GET /_emulator/faults` | `{"rules": [FaultRule]}` |
//! | `PUT /_emulator/faults` | `[FaultRule]` or `{"rules": [...]}`: replaces all |
//! | `POST /_emulator/faults` | one `FaultRule`: appended, answers it with its `id` (201) |
//! | `DELETE /_emulator/faults[/{id}]` | clears all / one (204) |
//! | `GET /_emulator/requests[?since=N]` | [`RequestLog`]: `{entries, counts: {byMethod, byMethodAndType, byStatus}, total, lastSeq}` |
//! | `DELETE /_emulator/requests` | clears the log (204) |
//! | `GET /_emulator/state[?type=T]` | `{resourceGroups, resources: [{id, type, provisioningState, etag, resource, stored, meta}], operations, deletedVaults}` |
//! | `GET/PUT /_emulator/config` | [`ConfigPatch`]: `{latencyMs, pollsToComplete, retryAfterSecs, pageSize, strictPeNetworkPolicies, enforceRateLimits, throttleModel ("regional" / "hourly"), requireToken, lroMaxDurationMs, keyVaultSoftDelete, locationDefault}` (all optional) |
//! | `GET /_emulator/ratelimits` | [`RateStats`]: `{admitted, throttled: {subscription, global, tenant, provider}}` |
//! | `GET /_emulator/identities` | `{identities: [{name, clientId, principalId, tokensIssued}]}` (never a token) |
//! | `POST /_emulator/resources` | `{"id", "body"? , "patch"?, "provisioningState"?}`: writes a resource without ARM rules (drift); answers the GET view |
//! | `DELETE /_emulator/resources?id=...` | removes a resource at once without ARM rules (with its children, a PE's NIC, a zone group's A records): `{"deleted": bool}` |
//! | `POST /_emulator/resource-groups` | `{"subscriptionId", "name", "location"?}` (201) |
//! | `POST /_emulator/settle` | completes every running operation: `{"completed": n}` |
//! | `POST /_emulator/reset` | clears resources, operations, faults, log and Activity Log; re-creates configured resource groups (204) |
//! | `GET /_emulator/activity` | `{"value": [event]}`: every Activity Log event, newest first |
//!
//! A `FaultRule` is `{"method"?, "resourceType"?, "pathContains"? (alias "nameContains"),
//! "fault", "times"? (null = always), "id" (answer), "fired" (answer)}` with `fault` one of
//! `{"kind": "throttle", "retryAfterSeconds": 2}` (429 + Retry-After),
//! `{"kind": "error", "status": 500, "code": "...", "message": "..."}`,
//! `{"kind": "delay", "millis": 300}`, `{"kind": "failLro", "code": "...", "message": "..."}`
//! (the operation the request starts ends `Failed`); the form `{"throttle": {...}}` is accepted too.

pub mod activity;
pub mod admin;
mod arm;
pub mod cli;
pub mod error;
mod hooks;
mod http;
pub mod identity;
mod journal;
mod json;
mod network;
pub mod path;
pub mod ratelimit;
mod services;
mod state;
pub mod tls;
pub mod types;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use admin::{ConfigPatch, Fault, FaultRule, LogEntry, RequestCounts, RequestLog};
pub use journal::JournalChange;
pub use cli::{EmulatorArgs, run_cli};
pub use error::ArmError;
pub use identity::{DEFAULT_IDENTITY_HEADER, MSI_API_VERSION, MSI_PATH, ManagedIdentity};
pub use ratelimit::{ArmLimits, Clock, Limit, RateStats, ThrottleModel};
pub use tls::{EmulatorTls, TlsError};
pub use types::supported_api_versions;

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Polls an operation stays in progress (default 1: the first GET after a PUT shows
    /// `Updating`/`InProgress`, the next `Succeeded`). 0: complete at once.
    pub polls_to_complete: u32,
    /// Value of `Retry-After` on LRO answers (default 1; tests set 0).
    pub retry_after_secs: u64,
    /// Added to every ARM request (default 0).
    pub latency: Duration,
    /// Refuse private endpoints in subnets whose `privateEndpointNetworkPolicies` is `Enabled`
    /// (the historical ARM rule; default false).
    pub strict_pe_network_policies: bool,
    /// Require `Authorization: Bearer <token>` (`"*"`: any token).
    pub require_token: Option<String>,
    /// Location used where none is known (resource groups seeded without one, etc.).
    pub location_default: String,
    /// Items per list page (default 100).
    pub page_size: usize,
    /// Answer 429 when one of ARM's limits is exhausted (default false: only report, in the
    /// `x-ms-ratelimit-remaining-*` headers).
    pub enforce_rate_limits: bool,
    /// The limits (default: the public cloud's; [`ArmLimits::sovereign_hourly`] for the hourly model).
    pub limits: ArmLimits,
    /// The clock of the rate limits ([`Clock::manual`] in tests).
    pub clock: Clock,
    /// The `X-IDENTITY-HEADER` the managed-identity endpoint requires.
    pub identity_header: String,
    /// Resource groups `(subscription, name)` created at start and on reset.
    pub resource_groups: Vec<(String, String)>,
    /// Tenant reported for identities and vaults.
    pub tenant_id: String,
    /// Also complete operations once they are this old, polled or not (default: never).
    pub lro_max_duration: Option<Duration>,
    /// Keep deleted vaults (with `enableSoftDelete` not false) reserved until purged (default true).
    pub key_vault_soft_delete: bool,
    /// Keep a journal of every change and the body of every write in the request log (tests;
    /// default false).
    pub journal: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            polls_to_complete: 1,
            retry_after_secs: 1,
            latency: Duration::ZERO,
            strict_pe_network_policies: false,
            require_token: None,
            location_default: "eastus".into(),
            page_size: 100,
            enforce_rate_limits: false,
            limits: ArmLimits::public_cloud(),
            clock: Clock::real(),
            identity_header: DEFAULT_IDENTITY_HEADER.into(),
            resource_groups: Vec::new(),
            tenant_id: "72f988bf-0000-4000-8000-00000000e001".into(),
            lro_max_duration: None,
            key_vault_soft_delete: true,
            journal: false,
        }
    }
}

impl EmulatorConfig {
    /// Defaults for tests: one poll per operation, `Retry-After: 0`.
    pub fn for_tests() -> Self {
        EmulatorConfig { polls_to_complete: 1, retry_after_secs: 0, ..Default::default() }
    }

    /// ARM's limits enforced with 429, in the given model (regional: the public cloud).
    pub fn enforcing(mut self, model: ThrottleModel) -> Self {
        self.enforce_rate_limits = true;
        self.limits = ArmLimits::for_model(model);
        self
    }

    /// Adds a resource group to create at start.
    pub fn with_resource_group(
        mut self,
        subscription: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        self.resource_groups
            .push((subscription.into(), name.into()));
        self
    }
}

/// A handle on the emulator's state: the admin API for in-process callers. Cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Mutex<state::State>>,
}

impl Emulator {
    pub fn new(cfg: EmulatorConfig) -> Self {
        Emulator {
            inner: Arc::new(Mutex::new(state::State::new(cfg))),
        }
    }

    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut state::State) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut g);
        // What the closure changed outside an ARM request (which commits its own) is the caller's.
        g.journal_commit("admin");
        r
    }

    /// Marks a settled point in the journal (see `State::journal_mark`).
    pub fn journal_mark(&self, label: &str) {
        self.with_state(|s| s.journal_mark(label))
    }

    /// Changes recorded after commit `since` (0: all), when the journal is on.
    pub fn journal(&self, since: u64) -> Vec<JournalChange> {
        self.with_state(|s| s.journal.changes.iter().filter(|c| c.commit > since).cloned().collect())
    }

    pub fn config(&self) -> EmulatorConfig {
        self.with_state(|s| s.cfg.clone())
    }

    pub fn update_config(&self, p: &ConfigPatch) -> EmulatorConfig {
        self.with_state(|s| {
            s.cfg.apply(p);
            s.cfg.clone()
        })
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        self.with_state(|s| s.faults.clone())
    }

    /// Replaces all fault rules (ids are reassigned).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.with_state(|s| {
            s.faults.clear();
            for mut r in rules {
                r.id = s.next_fault_id;
                r.fired = 0;
                s.next_fault_id += 1;
                s.faults.push(r);
            }
        })
    }

    /// Appends a fault rule; returns its id.
    pub fn add_fault(&self, mut rule: FaultRule) -> u64 {
        self.with_state(|s| {
            rule.id = s.next_fault_id;
            rule.fired = 0;
            s.next_fault_id += 1;
            s.faults.push(rule);
            s.next_fault_id - 1
        })
    }

    pub fn remove_fault(&self, id: u64) -> bool {
        self.with_state(|s| {
            let before = s.faults.len();
            s.faults.retain(|r| r.id != id);
            s.faults.len() != before
        })
    }

    pub fn clear_faults(&self) {
        self.with_state(|s| s.faults.clear())
    }

    /// The request log after `since` (a `lastSeq` from an earlier call), with counts.
    pub fn requests(&self, since: Option<u64>) -> RequestLog {
        self.with_state(|s| s.request_log(since))
    }

    pub fn clear_requests(&self) {
        self.with_state(|s| s.log.clear())
    }

    /// Everything stored (see `GET /_emulator/state`).
    pub fn state_dump(&self) -> Value {
        self.with_state(|s| s.dump(None))
    }

    pub fn state_dump_filtered(&self, resource_type: Option<&str>) -> Value {
        self.with_state(|s| s.dump(resource_type))
    }

    /// A resource as GET shows it (without counting as a poll).
    pub fn resource(&self, id: &str) -> Option<Value> {
        self.with_state(|s| s.render_key(&path::key_of(id)))
    }

    pub fn seed_resource_group(
        &self,
        subscription: &str,
        name: &str,
        location: Option<&str>,
    ) -> Value {
        self.with_state(|s| admin::seed_rg(s, subscription, name, location))
    }

    /// Writes a resource without ARM rules (replaces what is stored).
    pub fn put_resource(
        &self,
        id: &str,
        body: Value,
        provisioning_state: Option<&str>,
    ) -> Result<Value, String> {
        self.with_state(|s| s.admin_upsert(id, Some(body), None, provisioning_state))
    }

    /// Merges a JSON merge patch into a stored resource without ARM rules.
    pub fn patch_resource(
        &self,
        id: &str,
        patch: Value,
        provisioning_state: Option<&str>,
    ) -> Result<Value, String> {
        self.with_state(|s| s.admin_upsert(id, None, Some(patch), provisioning_state))
    }

    /// Removes a resource at once, without ARM rules (no in-use checks, no operation), together
    /// with what it owns: children, a private endpoint's NIC, a zone group's A records (a deleted
    /// vault is soft-deleted as usual).
    pub fn delete_resource(&self, id: &str) -> bool {
        self.with_state(|s| {
            let key = path::key_of(id);
            let target = s.entry_target(&key);
            s.remove_with_effects(&key);
            let found = target.is_some();
            if let Some(t) = target {
                s.record_admin(t, activity::Verb::Delete);
            }
            found
        })
    }

    /// Every Activity Log event, newest first, as the Activity Logs API returns them.
    pub fn activity_events(&self) -> Vec<Value> {
        self.with_state(|s| s.activity.newest_first().map(|e| e.to_json()).collect())
    }

    /// Completes every running operation; returns how many.
    pub fn settle(&self) -> usize {
        self.with_state(|s| s.settle())
    }

    /// Clears resources, operations, faults and the log (config kept).
    pub fn reset(&self) {
        self.with_state(|s| s.reset())
    }

    /// What ARM's limits did so far: requests let through, 429s by the limit that refused them.
    pub fn rate_stats(&self) -> RateStats {
        self.with_state(|s| s.limiter.stats.clone())
    }

    /// The identities the managed-identity endpoint issued tokens for.
    pub fn identities(&self) -> Vec<ManagedIdentity> {
        self.with_state(|s| s.identities.list())
    }

    /// The rate limits' clock (advance it when it is [`Clock::manual`]).
    pub fn clock(&self) -> Clock {
        self.with_state(|s| s.cfg.clock.clone())
    }
}

/// The emulator's routes (ARM surface, the managed-identity endpoint and the `/_emulator/`
/// admin API) over `emulator`'s state.
pub fn router(emulator: Emulator) -> axum::Router {
    admin::routes()
        .route(MSI_PATH, axum::routing::get(identity::msi_handler))
        .fallback(http::arm_handler)
        .with_state(emulator)
}

/// Serves `emulator` over HTTPS with `tls` until `shutdown` resolves (then finishes in-flight
/// requests).
pub async fn serve_with_shutdown<F>(
    listener: TcpListener,
    emulator: Emulator,
    tls: &EmulatorTls,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listener = tls.listener(listener)?;
    axum::serve(listener, router(emulator))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A running emulator on 127.0.0.1, over HTTPS; stops when dropped.
pub struct RunningEmulator {
    /// `https://127.0.0.1:<port>`: the ARM endpoint.
    pub base_url: String,
    pub addr: SocketAddr,
    /// The CA that signed the server certificate (PEM): trust it to talk to the emulator.
    pub ca_pem: String,
    /// `IDENTITY_ENDPOINT` for a managed-identity client: `https://127.0.0.1:<port>/msi/token`.
    pub identity_endpoint: String,
    /// `IDENTITY_HEADER` for a managed-identity client.
    pub identity_header: String,
    /// In-process admin handle (same state as the `/_emulator/` API).
    pub admin: Emulator,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// The emulator's CA as extra trust for moat's ARM client and credentials.
    pub fn trust(&self) -> crate::azure::ExtraTrust {
        // The PEM was produced by rcgen a moment ago; it always parses.
        crate::azure::ExtraTrust::from_pem(self.ca_pem.as_bytes()).unwrap_or_default()
    }

    /// An HTTP client that trusts the emulator (for tests and benchmarks).
    pub fn http_client(&self) -> reqwest::Result<reqwest::Client> {
        self.trust()
            .apply(reqwest::Client::builder().timeout(Duration::from_secs(60)))
            .build()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Binds 127.0.0.1:0 and serves in the background.
pub async fn start(cfg: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    start_on(listener, cfg).await
}

/// Serves in the background on a listener you bound.
pub async fn start_on(
    listener: TcpListener,
    cfg: EmulatorConfig,
) -> std::io::Result<RunningEmulator> {
    let addr = listener.local_addr()?;
    let tls = EmulatorTls::generate().map_err(std::io::Error::other)?;
    let identity_header = cfg.identity_header.clone();
    let admin = Emulator::new(cfg);
    let (tx, rx) = oneshot::channel::<()>();
    let served = admin.clone();
    let server_tls = tls.clone();
    let task = tokio::spawn(async move {
        serve_with_shutdown(listener, served, &server_tls, async move {
            let _ = rx.await;
        })
        .await
    });
    let base_url = format!("https://{addr}");
    Ok(RunningEmulator {
        identity_endpoint: format!("{base_url}{MSI_PATH}"),
        identity_header,
        ca_pem: tls.ca_pem().to_string(),
        base_url,
        addr,
        admin,
        shutdown: Some(tx),
        task: Some(task),
    })
}
