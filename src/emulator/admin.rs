//! The admin API under `/_emulator/` (see the module docs of `crate::emulator` for the routes),
//! plus the fault rules and request-log types it serves.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use super::Emulator;
use super::hooks;
use super::path;
use super::state::{Entry, Prov, State, new_guid, now_rfc3339, rg_key};
use super::types;

// ---------------------------------------------------------------------------------------------
// Faults

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// 429 with `Retry-After` and an ARM throttling body.
    #[serde(rename_all = "camelCase")]
    Throttle {
        #[serde(default = "one")]
        retry_after_seconds: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// An ARM error with any status (e.g. 500 `InternalServerError`).
    #[serde(rename_all = "camelCase")]
    Error {
        #[serde(default = "five_hundred")]
        status: u16,
        #[serde(default = "internal_code")]
        code: String,
        #[serde(default = "internal_message")]
        message: String,
    },
    /// Answers after an extra delay (then normally).
    Delay { millis: u64 },
    /// The request is applied (a write is committed, its operation started), then the response
    /// is lost: the client gets this error instead (as when a gateway times out after ARM
    /// accepted a write).
    #[serde(rename_all = "camelCase")]
    ErrorAfter {
        #[serde(default = "five_hundred")]
        status: u16,
        #[serde(default = "internal_code")]
        code: String,
        #[serde(default = "internal_message")]
        message: String,
    },
    /// The operation the request starts ends `Failed` with this error (resource: `Failed`).
    /// `status` is the HTTP status a `Location` poll answers with (default 400).
    #[serde(rename_all = "camelCase")]
    FailLro {
        #[serde(default = "fail_code")]
        code: String,
        #[serde(default = "fail_message")]
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
}

fn one() -> u64 {
    1
}
fn five_hundred() -> u16 {
    500
}
fn internal_code() -> String {
    "InternalServerError".into()
}
fn internal_message() -> String {
    "Encountered internal server error. Diagnostic information: injected by the ARM emulator."
        .into()
}
fn fail_code() -> String {
    "InternalServerError".into()
}
fn fail_message() -> String {
    "The operation failed (injected by the ARM emulator).".into()
}

/// Accepts `{"kind": "throttle", "retryAfterSeconds": 2}` and `{"throttle": {"retryAfterSeconds": 2}}`.
fn de_fault<'de, D: Deserializer<'de>>(d: D) -> Result<Fault, D::Error> {
    let v = Value::deserialize(d)?;
    let tagged = match v {
        Value::Object(ref m) if m.contains_key("kind") => v,
        Value::Object(m) if m.len() == 1 => {
            let (k, inner) = m.into_iter().next().unwrap_or_default();
            let mut o = match inner {
                Value::Object(o) => o,
                Value::Null => Map::new(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "fault '{k}' must be an object, got {other}"
                    )));
                }
            };
            o.insert("kind".into(), Value::String(k));
            Value::Object(o)
        }
        other => {
            return Err(serde::de::Error::custom(format!(
                "unrecognised fault {other}"
            )));
        }
    };
    serde_json::from_value(tagged).map_err(serde::de::Error::custom)
}

/// A fault-injection rule. Matching is on method (exact, case-insensitive), resource type
/// (case-insensitive, e.g. `Microsoft.Network/virtualNetworks/subnets`; poll URLs have
/// `<namespace>/locations/operations` etc.) and a case-insensitive substring of the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    #[serde(default)]
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(
        default,
        alias = "nameContains",
        skip_serializing_if = "Option::is_none"
    )]
    pub path_contains: Option<String>,
    #[serde(deserialize_with = "de_fault")]
    pub fault: Fault,
    /// How many times it fires (`null`: always).
    #[serde(default)]
    pub times: Option<u32>,
    /// How many times it has fired.
    #[serde(default)]
    pub fired: u32,
    /// Fires for this share of the requests it matches (`null`: every one), decided per request
    /// from the rule's id, `seed` and how many requests it has considered: a soak replays the
    /// same faults for the same request sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default)]
    pub seed: u64,
    /// How many matching requests the probability was rolled for.
    #[serde(default)]
    pub considered: u64,
}

/// SplitMix64: a small, good 64-bit mix for deterministic rolls.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl FaultRule {
    /// A rule that fires on every matching request, `times` times (`None`: always).
    pub fn new(method: Option<&str>, resource_type: Option<&str>, path_contains: Option<&str>, fault: Fault, times: Option<u32>) -> Self {
        FaultRule {
            id: 0,
            method: method.map(str::to_string),
            resource_type: resource_type.map(str::to_string),
            path_contains: path_contains.map(str::to_string),
            fault,
            times,
            fired: 0,
            probability: None,
            seed: 0,
            considered: 0,
        }
    }

    /// The same rule, firing for `p` of the requests it matches.
    pub fn with_probability(mut self, p: f64, seed: u64) -> Self {
        self.probability = Some(p);
        self.seed = seed;
        self
    }

    /// Whether the rule fires for the matching request at hand (always, without a probability).
    pub fn roll(&mut self) -> bool {
        let Some(p) = self.probability else { return true };
        self.considered += 1;
        let x = splitmix64(self.seed ^ self.id.rotate_left(32) ^ self.considered);
        ((x >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn active(&self) -> bool {
        self.times.is_none_or(|t| self.fired < t)
    }

    pub fn matches(&self, method: &str, rtype: Option<&str>, path: &str) -> bool {
        if !self.active() {
            return false;
        }
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        if let Some(t) = &self.resource_type
            && !rtype.is_some_and(|r| r.eq_ignore_ascii_case(t))
        {
            return false;
        }
        if let Some(s) = &self.path_contains
            && !path.to_ascii_lowercase().contains(&s.to_ascii_lowercase())
        {
            return false;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Request log

/// One ARM request as the emulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub time: String,
    pub method: String,
    /// Path and query.
    pub path: String,
    pub resource_type: Option<String>,
    pub status: u16,
    pub duration_ms: f64,
    /// The fault kinds applied, if any (`throttle`, `error`, `delay`, `failLro`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// The JSON body of a write, when the journal is on (`EmulatorConfig::journal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// `GET /_emulator/requests` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLog {
    pub entries: Vec<LogEntry>,
    pub counts: RequestCounts,
    /// Number of entries returned.
    pub total: usize,
    /// Highest `seq` so far; pass it as `?since=` to get only newer entries.
    pub last_seq: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// `{"GET": 12, "PUT": 3}`.
    pub by_method: BTreeMap<String, u64>,
    /// `{"PUT Microsoft.Network/virtualNetworks/subnets": 2}` (`-` when no type).
    pub by_method_and_type: BTreeMap<String, u64>,
    /// `{"200": 10, "429": 1}`.
    pub by_status: BTreeMap<String, u64>,
}

impl State {
    pub fn request_log(&self, since: Option<u64>) -> RequestLog {
        let since = since.unwrap_or(0);
        let entries: Vec<LogEntry> = self.log.iter().filter(|e| e.seq > since).cloned().collect();
        let mut counts = RequestCounts::default();
        for e in &entries {
            *counts.by_method.entry(e.method.clone()).or_default() += 1;
            let t = e.resource_type.clone().unwrap_or_else(|| "-".into());
            *counts
                .by_method_and_type
                .entry(format!("{} {t}", e.method))
                .or_default() += 1;
            *counts.by_status.entry(e.status.to_string()).or_default() += 1;
        }
        RequestLog {
            total: entries.len(),
            entries,
            counts,
            last_seq: self.next_log_seq.saturating_sub(1),
        }
    }

    pub fn push_log(&mut self, mut e: LogEntry) {
        e.seq = self.next_log_seq;
        self.next_log_seq += 1;
        self.log.push_back(e);
        while self.log.len() > super::state::LOG_CAPACITY {
            self.log.pop_front();
        }
    }

    /// Every resource group, resource (as GET shows it, plus what is stored), operation and
    /// soft-deleted vault. `type_filter` keeps one resource type (case-insensitive).
    pub fn dump(&self, type_filter: Option<&str>) -> Value {
        let mut resources: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| type_filter.is_none_or(|t| e.spec.canonical.eq_ignore_ascii_case(t)))
            .collect();
        resources.sort_by_key(|e| e.seq);
        let resources: Vec<Value> = resources
            .into_iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "type": e.spec.canonical,
                    "provisioningState": e.prov.label(),
                    "etag": e.etag,
                    "resource": self.render(e),
                    "stored": Value::Object(e.body.clone()),
                    "meta": Value::Object(e.meta.clone()),
                })
            })
            .collect();
        let mut ops: Vec<&super::state::Operation> = self.ops.values().collect();
        ops.sort_by(|a, b| a.start.cmp(&b.start));
        let operations: Vec<Value> = ops
            .into_iter()
            .map(|o| {
                json!({
                    "id": o.id,
                    "kind": format!("{:?}", o.kind),
                    "status": o.status.as_str(),
                    "target": o.target,
                    "pollsLeft": o.polls_left,
                    "error": o.fail.as_ref().map(|f| f.error_object()),
                })
            })
            .collect();
        json!({
            "resourceGroups": self.rgs.values().map(|r| r.render()).collect::<Vec<_>>(),
            "resources": resources,
            "operations": operations,
            "deletedVaults": self.deleted_vaults.values().map(|d| d.render()).collect::<Vec<_>>(),
        })
    }

    /// Writes a resource directly, without ARM rules (admin API). `body` replaces what is stored,
    /// `patch` merges into it (RFC 7386). Inline `subnets` / `securityRules` / `routes` replace the
    /// children. The resource group is created when missing.
    pub fn admin_upsert(
        &mut self,
        id: &str,
        body: Option<Value>,
        patch: Option<Value>,
        prov: Option<&str>,
    ) -> Result<Value, String> {
        let parts = path::split_id(id).ok_or_else(|| format!("'{id}' is not a resource id"))?;
        let spec = types::lookup(&parts.rtype)
            .ok_or_else(|| format!("unknown resource type '{}'", parts.rtype))?;
        let built = path::build_id(&parts.sub, &parts.rg, spec, &parts.names);
        let key = path::key_of(&built);
        let existing = self.get(&key).cloned();
        let parent = path::parent_id(&built).map(|p| path::key_of(&p));
        if let Some(p) = &parent
            && self.get(p).is_none()
        {
            return Err(format!("the parent of '{id}' does not exist"));
        }
        let mut new_body = match (body, patch) {
            (Some(Value::Object(b)), _) => b,
            (Some(_), _) => return Err("'body' must be an object".into()),
            (None, Some(p)) => {
                let mut base = Value::Object(
                    existing
                        .as_ref()
                        .map(|e| e.body.clone())
                        .unwrap_or_default(),
                );
                super::json::merge_patch(&mut base, &p);
                match base {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            }
            (None, None) => return Err("give 'body' or 'patch'".into()),
        };
        for k in ["id", "name", "type", "etag"] {
            new_body.remove(k);
        }
        super::json::remove_path(&mut new_body, "properties.provisioningState");
        let loc = new_body
            .get("location")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.cfg.location_default.clone());
        self.ensure_rg(&parts.sub, &parts.rg, &loc);
        let root = path::key_of(&path::root_id(&built));
        // Inline children.
        let inline_field = match spec.canonical {
            types::VNET => Some((types::SUBNET, "subnets")),
            types::NSG => Some((types::NSG_RULE, "securityRules")),
            types::ROUTE_TABLE => Some((types::ROUTE, "routes")),
            _ => None,
        };
        let mut children: Option<Vec<(String, Map<String, Value>)>> = None;
        if let Some((_, field)) = inline_field
            && let Some(Value::Object(p)) = new_body.get_mut("properties")
            && let Some(Value::Array(items)) = p.remove(field)
        {
            let mut v = Vec::new();
            for it in items {
                let Some(name) = it.get("name").and_then(Value::as_str).map(str::to_string) else {
                    return Err(format!("an element of '{field}' has no name"));
                };
                let mut b = Map::new();
                b.insert(
                    "properties".into(),
                    it.get("properties").cloned().unwrap_or(json!({})),
                );
                v.push((name, b));
            }
            children = Some(v);
        }
        let mut meta = existing
            .as_ref()
            .map(|e| e.meta.clone())
            .unwrap_or_default();
        for k in [
            "resourceGuid",
            "workspaceId",
            "appId",
            "instrumentationKey",
            "internalId",
        ] {
            if !meta.contains_key(k) {
                meta.insert(k.into(), json!(new_guid()));
            }
        }
        if !meta.contains_key("creationTime") {
            meta.insert("creationTime".into(), json!(now_rfc3339()));
            meta.insert("creationDate".into(), json!(now_rfc3339()));
        }
        let seq = existing
            .as_ref()
            .map(|e| e.seq)
            .unwrap_or_else(|| self.next_seq());
        let entry = Entry {
            id: existing
                .as_ref()
                .map(|e| e.id.clone())
                .unwrap_or_else(|| built.clone()),
            key: key.clone(),
            spec,
            name: existing
                .as_ref()
                .map(|e| e.name.clone())
                .unwrap_or_else(|| parts.names.last().cloned().unwrap_or_default()),
            sub: parts.sub.clone(),
            rg: parts.rg.clone(),
            parent,
            root: root.clone(),
            body: new_body,
            meta,
            etag: State::new_etag(spec),
            prov: prov.map(Prov::from_label).unwrap_or(Prov::Succeeded),
            seq,
            created_at: existing
                .as_ref()
                .map(|e| e.created_at.clone())
                .unwrap_or_else(now_rfc3339),
        };
        let entry_id = entry.id.clone();
        self.entries.insert(key.clone(), entry);
        if let (Some((child_type, _)), Some(children)) = (inline_field, children) {
            let child_spec = types::lookup(child_type).ok_or("child type")?;
            let current: Vec<String> = self
                .children(&key, child_type)
                .into_iter()
                .map(|e| e.key.clone())
                .collect();
            let wanted: Vec<String> = children
                .iter()
                .map(|(n, _)| path::key_of(&format!("{entry_id}/{}/{n}", child_spec.leaf())))
                .collect();
            for c in current {
                if !wanted.contains(&c) {
                    self.remove_raw(&c);
                }
            }
            for (n, b) in children {
                let cid = format!("{entry_id}/{}/{n}", child_spec.leaf());
                let ckey = path::key_of(&cid);
                let old = self.get(&ckey).cloned();
                let cseq = old
                    .as_ref()
                    .map(|e| e.seq)
                    .unwrap_or_else(|| self.next_seq());
                self.entries.insert(
                    ckey.clone(),
                    Entry {
                        id: old.as_ref().map(|e| e.id.clone()).unwrap_or(cid),
                        key: ckey,
                        spec: child_spec,
                        name: n,
                        sub: parts.sub.clone(),
                        rg: parts.rg.clone(),
                        parent: Some(key.clone()),
                        root: root.clone(),
                        body: b,
                        meta: old.as_ref().map(|e| e.meta.clone()).unwrap_or_default(),
                        etag: State::new_etag(child_spec),
                        prov: Prov::Succeeded,
                        seq: cseq,
                        created_at: old.map(|e| e.created_at).unwrap_or_else(now_rfc3339),
                    },
                );
            }
        }
        if spec.is(types::DNS_ZONE) {
            hooks::after_write(self, &key);
        }
        let out = self.render_key(&key).ok_or("vanished")?;
        if let Some(t) = self.entry_target(&key) {
            self.record_admin(t, super::activity::Verb::Write);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Config

/// `PUT /_emulator/config` body: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigPatch {
    pub latency_ms: Option<u64>,
    pub polls_to_complete: Option<u32>,
    pub retry_after_secs: Option<u64>,
    pub page_size: Option<usize>,
    pub strict_pe_network_policies: Option<bool>,
    pub enforce_rate_limits: Option<bool>,
    /// `regional` or `hourly`: replaces the limits with that model's (meters start afresh).
    pub throttle_model: Option<super::ratelimit::ThrottleModel>,
    /// `""` clears the token requirement.
    pub require_token: Option<String>,
    /// `0` turns the time-based completion off.
    pub lro_max_duration_ms: Option<u64>,
    pub key_vault_soft_delete: Option<bool>,
    pub location_default: Option<String>,
}

impl super::EmulatorConfig {
    pub fn apply(&mut self, p: &ConfigPatch) {
        if let Some(v) = p.latency_ms {
            self.latency = Duration::from_millis(v);
        }
        if let Some(v) = p.polls_to_complete {
            self.polls_to_complete = v;
        }
        if let Some(v) = p.retry_after_secs {
            self.retry_after_secs = v;
        }
        if let Some(v) = p.page_size {
            self.page_size = v.max(1);
        }
        if let Some(v) = p.strict_pe_network_policies {
            self.strict_pe_network_policies = v;
        }
        if let Some(v) = p.enforce_rate_limits {
            self.enforce_rate_limits = v;
        }
        if let Some(m) = p.throttle_model {
            self.limits = super::ratelimit::ArmLimits::for_model(m);
        }
        if let Some(v) = &p.require_token {
            self.require_token = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(v) = p.lro_max_duration_ms {
            self.lro_max_duration = (v > 0).then(|| Duration::from_millis(v));
        }
        if let Some(v) = p.key_vault_soft_delete {
            self.key_vault_soft_delete = v;
        }
        if let Some(v) = &p.location_default {
            self.location_default = v.clone();
        }
    }

    /// The config as `GET /_emulator/config` shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "latencyMs": self.latency.as_millis() as u64,
            "pollsToComplete": self.polls_to_complete,
            "retryAfterSecs": self.retry_after_secs,
            "pageSize": self.page_size,
            "strictPeNetworkPolicies": self.strict_pe_network_policies,
            "enforceRateLimits": self.enforce_rate_limits,
            "throttleModel": self.limits.model,
            "requireToken": self.require_token.is_some(),
            "lroMaxDurationMs": self.lro_max_duration.map(|d| d.as_millis() as u64),
            "keyVaultSoftDelete": self.key_vault_soft_delete,
            "locationDefault": self.location_default,
            "tenantId": self.tenant_id,
            "resourceGroups": self.resource_groups.iter().map(|(s, r)| format!("{s}/{r}")).collect::<Vec<_>>(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

fn bad(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": {"code": "BadRequest", "message": msg.into()}})),
    )
        .into_response()
}

fn parse<T: serde::de::DeserializeOwned>(b: &Bytes) -> Result<T, String> {
    serde_json::from_slice(b).map_err(|e| format!("invalid JSON body: {e}"))
}

pub fn routes() -> Router<Emulator> {
    Router::new()
        .route(
            "/_emulator/health",
            get(|| async { axum::Json(json!({"ok": true})) }),
        )
        .route(
            "/_emulator/faults",
            get(get_faults)
                .put(put_faults)
                .post(post_fault)
                .delete(delete_faults),
        )
        .route("/_emulator/faults/{id}", delete(delete_fault))
        .route(
            "/_emulator/requests",
            get(get_requests).delete(delete_requests),
        )
        .route("/_emulator/state", get(get_state))
        .route("/_emulator/config", get(get_config).put(put_config))
        .route(
            "/_emulator/resources",
            post(post_resource).delete(delete_resource),
        )
        .route("/_emulator/resource-groups", post(post_resource_group))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/ratelimits", get(get_rate_limits))
        .route("/_emulator/identities", get(get_identities))
        .route("/_emulator/settle", post(settle))
        .route("/_emulator/activity", get(get_activity))
}

async fn get_activity(AxState(emu): AxState<Emulator>) -> Response {
    axum::Json(json!({"value": emu.activity_events()})).into_response()
}

async fn get_faults(AxState(emu): AxState<Emulator>) -> Response {
    axum::Json(json!({"rules": emu.faults()})).into_response()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FaultList {
    Bare(Vec<FaultRule>),
    Wrapped { rules: Vec<FaultRule> },
}

async fn put_faults(AxState(emu): AxState<Emulator>, body: Bytes) -> Response {
    let list = match parse::<FaultList>(&body) {
        Ok(FaultList::Bare(v)) | Ok(FaultList::Wrapped { rules: v }) => v,
        Err(r) => return bad(r),
    };
    emu.set_faults(list);
    axum::Json(json!({"rules": emu.faults()})).into_response()
}

async fn post_fault(AxState(emu): AxState<Emulator>, body: Bytes) -> Response {
    match parse::<FaultRule>(&body) {
        Ok(rule) => {
            let id = emu.add_fault(rule);
            let rule = emu.faults().into_iter().find(|r| r.id == id);
            (StatusCode::CREATED, axum::Json(json!(rule))).into_response()
        }
        Err(r) => bad(r),
    }
}

async fn delete_faults(AxState(emu): AxState<Emulator>) -> Response {
    emu.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn delete_fault(AxState(emu): AxState<Emulator>, Path(id): Path<u64>) -> Response {
    if emu.remove_fault(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<u64>,
}

async fn get_requests(AxState(emu): AxState<Emulator>, Query(q): Query<SinceQuery>) -> Response {
    axum::Json(emu.requests(q.since)).into_response()
}

async fn delete_requests(AxState(emu): AxState<Emulator>) -> Response {
    emu.clear_requests();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct TypeQuery {
    #[serde(rename = "type")]
    rtype: Option<String>,
}

async fn get_state(AxState(emu): AxState<Emulator>, Query(q): Query<TypeQuery>) -> Response {
    axum::Json(emu.state_dump_filtered(q.rtype.as_deref())).into_response()
}

async fn get_config(AxState(emu): AxState<Emulator>) -> Response {
    axum::Json(emu.config().to_json()).into_response()
}

async fn put_config(AxState(emu): AxState<Emulator>, body: Bytes) -> Response {
    match parse::<ConfigPatch>(&body) {
        Ok(p) => axum::Json(emu.update_config(&p).to_json()).into_response(),
        Err(r) => bad(r),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedRequest {
    id: String,
    body: Option<Value>,
    patch: Option<Value>,
    provisioning_state: Option<String>,
}

async fn post_resource(AxState(emu): AxState<Emulator>, body: Bytes) -> Response {
    let req = match parse::<SeedRequest>(&body) {
        Ok(r) => r,
        Err(r) => return bad(r),
    };
    let result = if req.patch.is_some() && req.body.is_none() {
        emu.patch_resource(
            &req.id,
            req.patch.unwrap_or(Value::Null),
            req.provisioning_state.as_deref(),
        )
    } else {
        emu.put_resource(
            &req.id,
            req.body.unwrap_or(Value::Null),
            req.provisioning_state.as_deref(),
        )
    };
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct IdQuery {
    id: Option<String>,
}

async fn delete_resource(AxState(emu): AxState<Emulator>, Query(q): Query<IdQuery>) -> Response {
    let Some(id) = q.id else {
        return bad("give ?id=<resource id>");
    };
    axum::Json(json!({"deleted": emu.delete_resource(&id)})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RgRequest {
    subscription_id: String,
    name: String,
    location: Option<String>,
}

async fn post_resource_group(AxState(emu): AxState<Emulator>, body: Bytes) -> Response {
    match parse::<RgRequest>(&body) {
        Ok(r) => {
            let v = emu.seed_resource_group(&r.subscription_id, &r.name, r.location.as_deref());
            (StatusCode::CREATED, axum::Json(v)).into_response()
        }
        Err(r) => bad(r),
    }
}

async fn get_rate_limits(AxState(emu): AxState<Emulator>) -> Response {
    axum::Json(emu.rate_stats()).into_response()
}

async fn get_identities(AxState(emu): AxState<Emulator>) -> Response {
    let ids: Vec<Value> = emu
        .identities()
        .into_iter()
        .map(|i| json!({"name": i.name, "clientId": i.client_id, "principalId": i.principal_id, "tokensIssued": i.tokens_issued}))
        .collect();
    axum::Json(json!({ "identities": ids })).into_response()
}

async fn reset(AxState(emu): AxState<Emulator>) -> Response {
    emu.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn settle(AxState(emu): AxState<Emulator>) -> Response {
    axum::Json(json!({"completed": emu.settle()})).into_response()
}

/// The resource-group render for `POST /_emulator/resource-groups`.
pub(crate) fn seed_rg(st: &mut State, sub: &str, rg: &str, location: Option<&str>) -> Value {
    let loc = location
        .map(str::to_string)
        .unwrap_or_else(|| st.cfg.location_default.clone());
    st.ensure_rg(sub, rg, &loc);
    if let Some(t) = st.rg_target(&rg_key(sub, rg)) {
        st.record_admin(t, super::activity::Verb::Write);
    }
    st.rgs
        .get(&rg_key(sub, rg))
        .map(|r| r.render())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_forms() {
        let a: FaultRule = serde_json::from_value(
            json!({"method": "PUT", "fault": {"kind": "throttle", "retryAfterSeconds": 3}}),
        )
        .unwrap();
        let b: FaultRule = serde_json::from_value(
            json!({"method": "PUT", "fault": {"throttle": {"retryAfterSeconds": 3}}}),
        )
        .unwrap();
        assert_eq!(a.fault, b.fault);
        let c: FaultRule = serde_json::from_value(
            json!({"fault": {"error": {"status": 503}}, "times": 2, "nameContains": "x"}),
        )
        .unwrap();
        assert!(matches!(c.fault, Fault::Error { status: 503, .. }));
        assert_eq!(c.path_contains.as_deref(), Some("x"));
        assert!(serde_json::from_value::<FaultRule>(json!({"fault": {"bogus": {}}})).is_err());
    }

    #[test]
    fn fault_matching() {
        let r = FaultRule {
            id: 1,
            method: Some("put".into()),
            resource_type: Some("microsoft.network/virtualnetworks/subnets".into()),
            path_contains: Some("SNET".into()),
            fault: Fault::Delay { millis: 1 },
            times: Some(1),
            fired: 0,
            probability: None,
            seed: 0,
            considered: 0,
        };
        assert!(r.matches(
            "PUT",
            Some("Microsoft.Network/virtualNetworks/subnets"),
            "/x/subnets/snet-a"
        ));
        assert!(!r.matches(
            "GET",
            Some("Microsoft.Network/virtualNetworks/subnets"),
            "/x/subnets/snet-a"
        ));
        assert!(!r.matches("PUT", Some("Microsoft.Network/virtualNetworks"), "/x/snet"));
        let spent = FaultRule { fired: 1, ..r };
        assert!(!spent.active());
    }
}
