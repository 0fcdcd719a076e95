//! Azure's Activity Log: the emulator records an event for every change to its resources, as
//! ARM does, and serves the Activity Logs List API
//! (`GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values`,
//! api-version `2015-04-01`).
//!
//! What records events:
//! - every mutating ARM request (PUT, PATCH, DELETE, POST) on a resource or resource group, once
//!   dispatched: `Succeeded` when it completed at once, `Started` (200/201 with a provisioning
//!   state still running) or `Accepted` (202) when it started an operation, `Failed` for an error
//!   answer. Requests refused before processing (rate limits, authentication, injected faults)
//!   record nothing, and neither do reads and polls;
//! - an operation ending: `Succeeded` or `Failed`, with the caller, correlation id and operation
//!   id of the request that started it;
//! - admin changes (`admin_upsert`, `Emulator::delete_resource`, resource-group seeding), caller
//!   `emulator-admin`.
//!
//! Timestamps are wall-clock (not the rate limits' [`super::Clock`]), with 100 ns precision as
//! ARM writes them, and never go back: events are kept in recording order, newest last, at most
//! [`CAPACITY`].
//!
//! `$filter` takes ARM's documented patterns only: `eventTimestamp ge '<t1>' [and eventTimestamp
//! le '<t2>']` optionally followed by one of `resourceGroupName eq '<rg>'`, `resourceUri eq
//! '<id>'` (the resource and what is under it), `resourceProvider eq '<namespace>'`,
//! `correlationId eq '<id>'`. `$select` keeps the named top-level fields. Pages hold
//! `page_size` events, newest first; `nextLink` carries `$skiptoken` (the sequence number of the
//! last event given).

use std::collections::{HashMap, VecDeque};

use axum::http::{Method, StatusCode};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::arm::{self, ArmRequest, ArmResponse, check_api_version, method_not_allowed};
use super::error::ArmError;
use super::path::{self, ArmPath, ResourcePath};
use super::state::{OpKind, State, new_guid, rg_key};
use super::types;

/// The api-version of the Activity Logs List API.
pub const API_VERSION: &str = "2015-04-01";
/// The type name of the Activity Log path (request log, fault rules, api-version errors).
pub const EVENT_TYPES: &str = "Microsoft.Insights/eventtypes";
/// Events kept before the oldest are dropped.
pub const CAPACITY: usize = 200_000;
/// The caller of admin changes.
pub const ADMIN_CALLER: &str = "emulator-admin";
/// The resource type the Activity Log gives resource groups.
pub const RESOURCE_GROUP_TYPE: &str = "Microsoft.Resources/subscriptions/resourceGroups";

/// `status.value` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Started,
    Accepted,
    Succeeded,
    Failed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Started => "Started",
            EventStatus::Accepted => "Accepted",
            EventStatus::Succeeded => "Succeeded",
            EventStatus::Failed => "Failed",
        }
    }
}

/// What was done to the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Write,
    Delete,
    /// A POST action (`listKeys`, `purge`, ...).
    Action(String),
}

/// The resource an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The id as the resource has it (the caller's casing when it does not exist).
    pub resource_id: String,
    pub sub: String,
    /// Empty for resources outside a resource group.
    pub rg: String,
    /// `Microsoft.Network/virtualNetworks`, `Microsoft.Resources/subscriptions/resourceGroups`.
    pub rtype: String,
}

impl Target {
    /// The resource provider's namespace.
    pub fn provider(&self) -> &str {
        self.rtype.split('/').next().unwrap_or_default()
    }

    /// `operationName.value` of `verb` on this resource.
    pub fn operation(&self, verb: &Verb) -> String {
        match verb {
            Verb::Write => format!("{}/write", self.rtype),
            Verb::Delete => format!("{}/delete", self.rtype),
            Verb::Action(a) => format!("{}/{a}/action", self.rtype),
        }
    }
}

/// Who made a change, and the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub caller: String,
    pub correlation_id: String,
    /// Shared by a request's event and the event of the operation it started.
    pub operation_id: String,
}

impl Origin {
    /// An admin change: caller `emulator-admin`, fresh ids.
    pub fn admin() -> Self {
        Origin {
            caller: ADMIN_CALLER.into(),
            correlation_id: new_guid(),
            operation_id: new_guid(),
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone)]
pub struct ActivityEvent {
    /// Recording order (higher is newer); the `$skiptoken` of the next page.
    pub seq: u64,
    pub timestamp: Timestamp,
    pub target: Target,
    pub verb: Verb,
    pub status: EventStatus,
    /// `subStatus.value` (the HTTP status of a request, e.g. `Created`; else empty).
    pub sub_status: String,
    pub origin: Origin,
    pub event_data_id: String,
    pub tenant_id: String,
    /// The error of a failed request or operation.
    pub error: Option<Value>,
}

/// .NET ticks (100 ns since 0001-01-01) at the Unix epoch.
const EPOCH_TICKS: i128 = 621_355_968_000_000_000;

/// `2026-12-06T03:40:12.1234567Z`.
fn arm_time(t: Timestamp) -> String {
    format!(
        "{}.{:07}Z",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.subsec_nanosecond() / 100
    )
}

impl ActivityEvent {
    pub fn operation_name(&self) -> String {
        self.target.operation(&self.verb)
    }

    /// The event as the API returns it (`EventData`).
    pub fn to_json(&self) -> Value {
        let op = self.operation_name();
        let t = &self.target;
        let localized_op = match &self.verb {
            Verb::Write if t.rtype == RESOURCE_GROUP_TYPE => "Update resource group".to_string(),
            Verb::Delete if t.rtype == RESOURCE_GROUP_TYPE => "Delete resource group".to_string(),
            Verb::Write => format!("Create or Update {}", t.rtype),
            Verb::Delete => format!("Delete {}", t.rtype),
            Verb::Action(a) => format!("{a} on {}", t.rtype),
        };
        let (event_name, event_name_localized) = match self.status {
            EventStatus::Started => ("BeginRequest", "Begin request"),
            _ => ("EndRequest", "End request"),
        };
        let ticks = self.timestamp.as_nanosecond() / 100 + EPOCH_TICKS;
        let time = arm_time(self.timestamp);
        let mut props = Map::new();
        props.insert("eventCategory".into(), json!("Administrative"));
        props.insert("entity".into(), json!(t.resource_id));
        props.insert("message".into(), json!(op));
        if !self.sub_status.is_empty() {
            props.insert("statusCode".into(), json!(self.sub_status));
        }
        if let Some(e) = &self.error {
            props.insert(
                "statusMessage".into(),
                json!(serde_json::to_string(&json!({ "error": e })).unwrap_or_default()),
            );
        }
        json!({
            "authorization": {"action": op, "scope": t.resource_id},
            "caller": self.origin.caller,
            "channels": "Operation",
            "category": {"value": "Administrative", "localizedValue": "Administrative"},
            "correlationId": self.origin.correlation_id,
            "description": "",
            "eventDataId": self.event_data_id,
            "eventName": {"value": event_name, "localizedValue": event_name_localized},
            "id": format!("{}/events/{}/ticks/{ticks}", t.resource_id, self.event_data_id),
            "level": if self.status == EventStatus::Failed { "Error" } else { "Informational" },
            "operationId": self.origin.operation_id,
            "operationName": {"value": op, "localizedValue": localized_op},
            "properties": Value::Object(props),
            "resourceGroupName": t.rg,
            "resourceProviderName": {"value": t.provider(), "localizedValue": t.provider()},
            "resourceType": {"value": t.rtype, "localizedValue": t.rtype},
            "resourceId": t.resource_id,
            "status": {"value": self.status.as_str(), "localizedValue": self.status.as_str()},
            "subStatus": {"value": self.sub_status, "localizedValue": self.sub_status},
            "eventTimestamp": time,
            "submissionTimestamp": time,
            "subscriptionId": t.sub,
            "tenantId": self.tenant_id,
        })
    }
}

/// The events, oldest first, and the request being processed.
#[derive(Debug, Default)]
pub struct ActivityLog {
    events: VecDeque<ActivityEvent>,
    next_seq: u64,
    /// The request being dispatched: operations it starts remember it.
    current: Option<Origin>,
    /// Events of operations that ended while a request was dispatched: recorded after the
    /// request's own event.
    pending: Vec<ActivityEvent>,
    /// Running operation id -> the request that started it.
    ops: HashMap<String, Origin>,
}

impl ActivityLog {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &ActivityEvent> {
        self.events.iter().rev()
    }

    /// Notes that operation `op_id` was started by the request being dispatched.
    pub fn op_started(&mut self, op_id: &str) {
        if let Some(o) = &self.current {
            self.ops.insert(op_id.to_string(), o.clone());
        }
    }

    /// Stamps (sequence, time) and stores an event, or holds it until the request in progress
    /// has recorded its own.
    fn record(&mut self, mut e: ActivityEvent) {
        if self.current.is_some() {
            self.pending.push(e);
            return;
        }
        self.next_seq += 1;
        e.seq = self.next_seq;
        let now = Timestamp::now();
        let now = Timestamp::from_nanosecond(now.as_nanosecond() / 100 * 100).unwrap_or(now);
        // Never before the previous event: the log's order is its time order.
        e.timestamp = match self.events.back() {
            Some(last) if last.timestamp > now => last.timestamp,
            _ => now,
        };
        self.events.push_back(e);
        while self.events.len() > CAPACITY {
            self.events.pop_front();
        }
    }

    fn begin_request(&mut self, origin: Origin) {
        self.current = Some(origin);
        self.pending.clear();
    }

    fn end_request(&mut self, own: Option<ActivityEvent>) {
        self.current = None;
        let pending = std::mem::take(&mut self.pending);
        for e in own.into_iter().chain(pending) {
            self.record(e);
        }
    }
}

fn new_event(
    target: Target,
    verb: Verb,
    status: EventStatus,
    origin: Origin,
    tenant: &str,
) -> ActivityEvent {
    ActivityEvent {
        seq: 0,
        timestamp: Timestamp::UNIX_EPOCH,
        target,
        verb,
        status,
        sub_status: String::new(),
        origin,
        event_data_id: new_guid(),
        tenant_id: tenant.to_string(),
        error: None,
    }
}

fn terminal(state: &str) -> bool {
    ["Succeeded", "Failed", "Canceled"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(state))
}

/// `Created`, `NoContent`, `BadRequest`: ARM's subStatus for an HTTP status.
fn status_word(s: StatusCode) -> String {
    s.canonical_reason()
        .map(|r| r.replace([' ', '-'], ""))
        .unwrap_or_else(|| s.as_str().to_string())
}

impl State {
    /// The Activity Log's view of a stored resource.
    pub fn entry_target(&self, key: &str) -> Option<Target> {
        self.get(key).map(|e| Target {
            resource_id: e.id.clone(),
            sub: e.sub.clone(),
            rg: e.rg.clone(),
            rtype: e.spec.canonical.to_string(),
        })
    }

    /// The Activity Log's view of a resource group (by its `rg_key`).
    pub fn rg_target(&self, rg_key_: &str) -> Option<Target> {
        self.rgs.get(rg_key_).map(|r| Target {
            resource_id: r.id(),
            sub: r.sub.clone(),
            rg: r.name.clone(),
            rtype: RESOURCE_GROUP_TYPE.into(),
        })
    }

    /// Records an admin change (caller `emulator-admin`, `Succeeded`).
    pub fn record_admin(&mut self, target: Target, verb: Verb) {
        let e = new_event(
            target,
            verb,
            EventStatus::Succeeded,
            Origin::admin(),
            &self.cfg.tenant_id,
        );
        self.activity.record(e);
    }

    /// Records the end of operation `op_id` on `subject` (taken before its effects applied).
    pub fn record_op_end(
        &mut self,
        op_id: &str,
        kind: OpKind,
        subject: Option<Target>,
        fail: Option<&ArmError>,
    ) {
        let origin = self.activity.ops.remove(op_id);
        let Some(subject) = subject else {
            return;
        };
        let origin = origin.unwrap_or_else(|| Origin {
            caller: ADMIN_CALLER.into(),
            correlation_id: new_guid(),
            operation_id: new_guid(),
        });
        let verb = match kind {
            OpKind::Put | OpKind::Patch => Verb::Write,
            OpKind::Delete | OpKind::DeleteResourceGroup => Verb::Delete,
        };
        let status = if fail.is_some() {
            EventStatus::Failed
        } else {
            EventStatus::Succeeded
        };
        let mut e = new_event(subject, verb, status, origin, &self.cfg.tenant_id);
        e.error = fail.map(ArmError::error_object);
        self.activity.record(e);
    }
}

/// The resource a request path names, as the Activity Log shows it.
fn resource_target(st: &State, sub: &str, rg: &str, ns: &str, types_: &[String], names: &[String]) -> Target {
    let mut tstr = ns.to_string();
    for t in types_ {
        tstr.push('/');
        tstr.push_str(t);
    }
    match types::lookup(&tstr) {
        Some(spec) => {
            let id = path::build_id(sub, rg, spec, names);
            st.entry_target(&path::key_of(&id)).unwrap_or_else(|| Target {
                resource_id: id,
                sub: sub.to_string(),
                rg: rg.to_string(),
                rtype: spec.canonical.to_string(),
            })
        }
        None => {
            let mut id = format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}");
            for (t, n) in types_.iter().zip(names) {
                id.push('/');
                id.push_str(t);
                id.push('/');
                id.push_str(n);
            }
            Target {
                resource_id: id,
                sub: sub.to_string(),
                rg: rg.to_string(),
                rtype: tstr,
            }
        }
    }
}

/// What a mutating request is about and does, if the Activity Log records it.
fn request_subject(st: &State, method: &Method, parsed: &ArmPath) -> Option<(Target, Verb)> {
    let verb = match *method {
        Method::PUT | Method::PATCH => Verb::Write,
        Method::DELETE => Verb::Delete,
        Method::POST => Verb::Action(String::new()),
        _ => return None,
    };
    match parsed {
        ArmPath::ResourceGroup { sub, rg } if verb != Verb::Action(String::new()) => {
            let t = st.rg_target(&rg_key(sub, rg)).unwrap_or_else(|| Target {
                resource_id: format!("/subscriptions/{sub}/resourceGroups/{rg}"),
                sub: sub.clone(),
                rg: rg.clone(),
                rtype: RESOURCE_GROUP_TYPE.into(),
            });
            Some((t, verb))
        }
        ArmPath::Resource(p) if !p.is_collection() && !matches!(verb, Verb::Action(_)) => {
            Some((resource_target(st, &p.sub, &p.rg, &p.ns, &p.types, &p.names), verb))
        }
        // `POST .../{type}/{name}/{action}`: an action on the resource.
        ArmPath::Resource(ResourcePath { sub, rg, ns, types: ts, names })
            if matches!(verb, Verb::Action(_)) && !names.is_empty() && ts.len() == names.len() + 1 =>
        {
            let action = ts.last().cloned().unwrap_or_default();
            let t = resource_target(st, sub, rg, ns, &ts[..names.len()], names);
            Some((t, Verb::Action(action)))
        }
        ArmPath::DeletedVault { sub, location, name, purge: true } if matches!(verb, Verb::Action(_)) => {
            Some((
                Target {
                    resource_id: format!(
                        "/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}"
                    ),
                    sub: sub.clone(),
                    rg: String::new(),
                    rtype: "Microsoft.KeyVault/locations/deletedVaults".into(),
                },
                Verb::Action("purge".into()),
            ))
        }
        _ => None,
    }
}

/// Dispatches an ARM request and records it in the Activity Log if it is a change: after its
/// own event come the events of operations that ended while it was processed.
pub(super) fn dispatch_recorded(
    st: &mut State,
    req: &ArmRequest<'_>,
    caller: &str,
    correlation_id: &str,
) -> Result<ArmResponse, ArmError> {
    let subject = request_subject(st, req.method, req.parsed);
    let origin = Origin {
        caller: caller.to_string(),
        correlation_id: correlation_id.to_string(),
        operation_id: new_guid(),
    };
    st.activity.begin_request(origin.clone());
    let r = arm::dispatch(st, req);
    let own = subject.and_then(|(target, verb)| {
        let (status, http, error) = match &r {
            Ok(resp) => {
                let running = resp
                    .body
                    .as_ref()
                    .and_then(|b| b.pointer("/properties/provisioningState"))
                    .and_then(Value::as_str)
                    .is_some_and(|s| !terminal(s));
                let status = if resp.status == StatusCode::ACCEPTED {
                    EventStatus::Accepted
                } else if running {
                    EventStatus::Started
                } else {
                    EventStatus::Succeeded
                };
                (status, resp.status, None)
            }
            // ARM does not log requests it refused before processing them.
            Err(e) if matches!(e.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::UNAUTHORIZED) => {
                return None;
            }
            Err(e) => (EventStatus::Failed, e.status, Some(e.error_object())),
        };
        let mut e = new_event(target, verb, status, origin, &st.cfg.tenant_id);
        e.sub_status = status_word(http);
        e.error = error;
        Some(e)
    });
    st.activity.end_request(own);
    r
}

// ---------------------------------------------------------------------------------------------
// $filter

/// What a `$filter` narrows the events to, besides the time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterScope {
    ResourceGroup(String),
    /// The resource and what is under it.
    ResourceUri(String),
    ResourceProvider(String),
    CorrelationId(String),
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFilter {
    pub from: Timestamp,
    /// `None`: now.
    pub to: Option<Timestamp>,
    pub scope: Option<FilterScope>,
}

const FILTER_FORMS: &str = "eventTimestamp ge '<start>' and eventTimestamp le '<end>', optionally followed by one of: and resourceGroupName eq '<name>', and resourceUri eq '<resource id>', and resourceProvider eq '<namespace>', and correlationId eq '<id>'";

fn filter_error(msg: impl std::fmt::Display) -> ArmError {
    ArmError::bad_request("BadRequest", format!("{msg} The supported $filter is: {FILTER_FORMS}."))
}

/// Splits `a op 'v' and b op 'w'` into `(field, op, value)` triples.
fn clauses(s: &str) -> Result<Vec<(String, String, String)>, ArmError> {
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let word = |i: &mut usize| -> String {
        let start = *i;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
            *i += 1;
        }
        s[start..*i].to_string()
    };
    let mut out = Vec::new();
    loop {
        skip_ws(&mut i);
        let field = word(&mut i);
        if field.is_empty() {
            return Err(filter_error(format!(
                "The $filter '{s}' could not be parsed: expected a field name at position {i}."
            )));
        }
        skip_ws(&mut i);
        let op = word(&mut i);
        if op.is_empty() {
            return Err(filter_error(format!(
                "The $filter '{s}' could not be parsed: expected an operator after '{field}'."
            )));
        }
        skip_ws(&mut i);
        if b.get(i) != Some(&b'\'') {
            return Err(filter_error(format!(
                "The $filter '{s}' could not be parsed: expected a quoted value after '{field} {op}'."
            )));
        }
        i += 1;
        let mut value = String::new();
        let mut start = i;
        loop {
            match b.get(i) {
                None => {
                    return Err(filter_error(format!(
                        "The $filter '{s}' could not be parsed: the value of '{field}' is not closed by a quote."
                    )));
                }
                // OData escapes a quote by doubling it.
                Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                    value.push_str(&s[start..=i]);
                    i += 2;
                    start = i;
                }
                Some(b'\'') => {
                    value.push_str(&s[start..i]);
                    i += 1;
                    break;
                }
                Some(_) => i += 1,
            }
        }
        out.push((field, op, value));
        skip_ws(&mut i);
        if i >= b.len() {
            return Ok(out);
        }
        let and = word(&mut i);
        if !and.eq_ignore_ascii_case("and") {
            return Err(filter_error(format!(
                "The $filter '{s}' could not be parsed: expected 'and' at position {i}."
            )));
        }
    }
}

fn timestamp(v: &str) -> Result<Timestamp, ArmError> {
    v.trim().parse::<Timestamp>().map_err(|e| {
        filter_error(format!(
            "The $filter time '{v}' is not an RFC 3339 date-time with an offset ({e})."
        ))
    })
}

/// Parses a `$filter` (the value of the query parameter, decoded).
pub fn parse_filter(filter: Option<&str>) -> Result<ActivityFilter, ArmError> {
    let Some(s) = filter.map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(filter_error("The $filter query parameter is required."));
    };
    let mut from = None;
    let mut to = None;
    let mut scope = None;
    for (field, op, value) in clauses(s)? {
        let f = field.to_ascii_lowercase();
        let o = op.to_ascii_lowercase();
        match (f.as_str(), o.as_str()) {
            ("eventtimestamp", "ge") if from.is_none() => from = Some(timestamp(&value)?),
            ("eventtimestamp", "le") if to.is_none() => to = Some(timestamp(&value)?),
            ("eventtimestamp", "ge" | "le") => {
                return Err(filter_error(format!(
                    "The $filter gives 'eventTimestamp {op}' more than once."
                )));
            }
            ("resourcegroupname" | "resourceuri" | "resourceprovider" | "correlationid", "eq") => {
                if scope.is_some() {
                    return Err(filter_error(format!(
                        "The $filter clause '{field} eq' cannot be combined with another of resourceGroupName, resourceUri, resourceProvider or correlationId."
                    )));
                }
                scope = Some(match f.as_str() {
                    "resourcegroupname" => FilterScope::ResourceGroup(value),
                    "resourceuri" => FilterScope::ResourceUri(value),
                    "resourceprovider" => FilterScope::ResourceProvider(value),
                    _ => FilterScope::CorrelationId(value),
                });
            }
            _ => {
                return Err(filter_error(format!(
                    "The $filter clause \"{field} {op} '{value}'\" is not supported."
                )));
            }
        }
    }
    let Some(from) = from else {
        return Err(filter_error(
            "The $filter must contain 'eventTimestamp ge' with the start of the time range.",
        ));
    };
    Ok(ActivityFilter { from, to, scope })
}

impl ActivityFilter {
    /// Whether the filter keeps `e`; `now` is the end when `eventTimestamp le` is not given.
    pub fn matches(&self, e: &ActivityEvent, now: Timestamp) -> bool {
        if e.timestamp < self.from || e.timestamp > self.to.unwrap_or(now) {
            return false;
        }
        let t = &e.target;
        match &self.scope {
            None => true,
            Some(FilterScope::ResourceGroup(rg)) => t.rg.eq_ignore_ascii_case(rg),
            Some(FilterScope::ResourceUri(uri)) => {
                let uri = uri.trim().trim_end_matches('/').to_ascii_lowercase();
                let id = t.resource_id.to_ascii_lowercase();
                id == uri || id.strip_prefix(&uri).is_some_and(|rest| rest.starts_with('/'))
            }
            Some(FilterScope::ResourceProvider(ns)) => t.provider().eq_ignore_ascii_case(ns.trim()),
            Some(FilterScope::CorrelationId(c)) => e.origin.correlation_id.eq_ignore_ascii_case(c.trim()),
        }
    }
}

/// Keeps the `$select`ed top-level fields (names compared case-insensitively).
pub fn project(event: Value, select: &[String]) -> Value {
    match event {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| select.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        other => other,
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET .../providers/Microsoft.Insights/eventtypes/management/values`.
pub(super) fn list(st: &State, req: &ArmRequest<'_>, sub: &str) -> Result<ArmResponse, ArmError> {
    check_api_version(req.query, &[API_VERSION], EVENT_TYPES, "")?;
    if req.method != Method::GET {
        return Err(method_not_allowed(req.method));
    }
    let raw_filter = req.query.get("$filter").map(String::as_str);
    let filter = parse_filter(raw_filter)?;
    let select: Option<Vec<String>> = req.query.get("$select").map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    let before: Option<u64> = match req.query.get("$skiptoken") {
        None => None,
        Some(t) => Some(t.parse().map_err(|_| {
            ArmError::bad_request("BadRequest", format!("The $skiptoken '{t}' is not valid."))
        })?),
    };
    let page = st.cfg.page_size.max(1);
    let now = Timestamp::now();
    let mut matching = st.activity.newest_first().filter(|e| {
        before.is_none_or(|b| e.seq < b)
            && e.target.sub.eq_ignore_ascii_case(sub)
            && filter.matches(e, now)
    });
    let mut value = Vec::new();
    let mut last = None;
    for e in matching.by_ref().take(page) {
        last = Some(e.seq);
        let v = e.to_json();
        value.push(match &select {
            Some(s) => project(v, s),
            None => v,
        });
    }
    let mut body = Map::new();
    body.insert("value".into(), Value::Array(value));
    if let Some(last) = last
        && matching.next().is_some()
    {
        let mut link = format!(
            "{}{}?api-version={API_VERSION}&$filter={}",
            req.base,
            req.path,
            encode(raw_filter.unwrap_or_default())
        );
        if let Some(s) = req.query.get("$select") {
            link.push_str("&$select=");
            link.push_str(&encode(s));
        }
        link.push_str(&format!("&$skiptoken={last}"));
        body.insert("nextLink".into(), Value::String(link));
    }
    Ok(ArmResponse {
        status: StatusCode::OK,
        headers: Vec::new(),
        body: Some(Value::Object(body)),
        used_fail_lro: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::EmulatorConfig;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    fn event(id: &str, rg: &str, rtype: &str, at: &str, correlation: &str) -> ActivityEvent {
        let mut e = new_event(
            Target {
                resource_id: id.into(),
                sub: "s".into(),
                rg: rg.into(),
                rtype: rtype.into(),
            },
            Verb::Write,
            EventStatus::Succeeded,
            Origin {
                caller: "c".into(),
                correlation_id: correlation.into(),
                operation_id: "o".into(),
            },
            "t",
        );
        e.timestamp = ts(at);
        e
    }

    #[test]
    fn parses_each_allowed_filter() {
        let f = parse_filter(Some(
            "eventTimestamp ge '2026-01-01T00:00:00Z' and eventTimestamp le '2026-01-02T00:00:00.1234567+01:00'",
        ))
        .expect("parses");
        assert_eq!(f.from, ts("2026-01-01T00:00:00Z"));
        assert_eq!(f.to, Some(ts("2026-01-01T23:00:00.1234567Z")));
        assert_eq!(f.scope, None);
        let cases = [
            ("resourceGroupName", FilterScope::ResourceGroup("rg-A".into())),
            ("resourceUri", FilterScope::ResourceUri("rg-A".into())),
            ("resourceProvider", FilterScope::ResourceProvider("rg-A".into())),
            ("correlationId", FilterScope::CorrelationId("rg-A".into())),
        ];
        for (field, scope) in cases {
            let f = parse_filter(Some(&format!(
                "EVENTTIMESTAMP GE '2026-01-01T00:00:00.5Z' AND eventtimestamp le '2026-01-02T00:00:00Z' And {field} EQ 'rg-A'"
            )))
            .expect(field);
            assert_eq!(f.scope, Some(scope));
        }
        // `le` may be left out: until now.
        let f = parse_filter(Some("eventTimestamp ge '2026-01-01T00:00:00Z' and resourceUri eq '/a/b'"))
            .expect("parses");
        assert_eq!(f.to, None);
        assert_eq!(f.scope, Some(FilterScope::ResourceUri("/a/b".into())));
    }

    #[test]
    fn filter_errors_name_the_problem() {
        for missing in [None, Some(""), Some("  ")] {
            let e = parse_filter(missing).expect_err("required");
            assert_eq!((e.status, e.code.as_str()), (StatusCode::BAD_REQUEST, "BadRequest"));
            assert!(e.message.contains("$filter query parameter is required"), "{}", e.message);
        }
        let e = parse_filter(Some("eventTimestamp le '2026-01-01T00:00:00Z'")).expect_err("no ge");
        assert!(e.message.contains("'eventTimestamp ge'"), "{}", e.message);
        let e = parse_filter(Some(
            "eventTimestamp ge '2026-01-01T00:00:00Z' and status eq 'Failed'",
        ))
        .expect_err("unknown clause");
        assert!(e.message.contains("status eq 'Failed'"), "{}", e.message);
        let e = parse_filter(Some(
            "eventTimestamp ge '2026-01-01T00:00:00Z' and resourceGroupName ne 'x'",
        ))
        .expect_err("not eq");
        assert!(e.message.contains("resourceGroupName ne"), "{}", e.message);
        let e = parse_filter(Some(
            "eventTimestamp ge '2026-01-01T00:00:00Z' and resourceGroupName eq 'a' and resourceProvider eq 'b'",
        ))
        .expect_err("two scopes");
        assert!(e.message.contains("cannot be combined"), "{}", e.message);
        let e = parse_filter(Some("eventTimestamp ge 'yesterday'")).expect_err("bad time");
        assert!(e.message.contains("'yesterday'"), "{}", e.message);
        let e = parse_filter(Some("eventTimestamp ge '2026-01-01T00:00:00Z' or x eq 'y'"))
            .expect_err("or");
        assert!(e.message.contains("expected 'and'"), "{}", e.message);
        let e = parse_filter(Some("eventTimestamp ge '2026-01-01T00:00:00Z")).expect_err("open quote");
        assert!(e.message.contains("not closed"), "{}", e.message);
    }

    #[test]
    fn resource_uri_matches_the_resource_and_what_is_under_it() {
        let vnet = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";
        let f = parse_filter(Some(&format!(
            "eventTimestamp ge '2026-01-01T00:00:00Z' and resourceUri eq '{}'",
            vnet.to_uppercase()
        )))
        .expect("parses");
        let now = ts("2026-02-01T00:00:00Z");
        let at = "2026-01-01T00:00:01Z";
        let t = "Microsoft.Network/virtualNetworks";
        assert!(f.matches(&event(vnet, "rg", t, at, "x"), now));
        assert!(f.matches(&event(&format!("{vnet}/subnets/a"), "rg", t, at, "x"), now));
        assert!(!f.matches(&event(&format!("{vnet}2"), "rg", t, at, "x"), now));
        assert!(!f.matches(&event(vnet, "rg", t, "2025-12-31T23:59:59Z", "x"), now), "before the window");
        assert!(!f.matches(&event(vnet, "rg", t, "2026-02-01T00:00:01Z", "x"), now), "after now");
        let by_rg = parse_filter(Some("eventTimestamp ge '2026-01-01T00:00:00Z' and resourceGroupName eq 'RG'")).expect("parses");
        assert!(by_rg.matches(&event(vnet, "rg", t, at, "x"), now));
        assert!(!by_rg.matches(&event(vnet, "rg2", t, at, "x"), now));
        let by_ns = parse_filter(Some("eventTimestamp ge '2026-01-01T00:00:00Z' and resourceProvider eq 'microsoft.network'")).expect("parses");
        assert!(by_ns.matches(&event(vnet, "rg", t, at, "x"), now));
        assert!(!by_ns.matches(&event(vnet, "rg", "Microsoft.Storage/storageAccounts", at, "x"), now));
        let by_corr = parse_filter(Some("eventTimestamp ge '2026-01-01T00:00:00Z' and correlationId eq 'ABC'")).expect("parses");
        assert!(by_corr.matches(&event(vnet, "rg", t, at, "abc"), now));
        assert!(!by_corr.matches(&event(vnet, "rg", t, at, "abd"), now));
    }

    #[test]
    fn events_come_newest_first_with_non_decreasing_times() {
        let mut st = State::new(EmulatorConfig::default());
        for i in 0..5 {
            let t = Target {
                resource_id: format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v{i}"),
                sub: "s".into(),
                rg: "rg".into(),
                rtype: "Microsoft.Network/virtualNetworks".into(),
            };
            st.record_admin(t, Verb::Write);
        }
        let all: Vec<&ActivityEvent> = st.activity.newest_first().collect();
        assert_eq!(all.len(), 5);
        assert!(all[0].target.resource_id.ends_with("/v4"));
        assert!(all[4].target.resource_id.ends_with("/v0"));
        assert!(all.windows(2).all(|w| w[0].seq > w[1].seq && w[0].timestamp >= w[1].timestamp));
        let v = all[0].to_json();
        assert_eq!(v["caller"], ADMIN_CALLER);
        assert_eq!(v["operationName"]["value"], "Microsoft.Network/virtualNetworks/write");
        assert_eq!(v["resourceProviderName"]["value"], "Microsoft.Network");
        let time = v["eventTimestamp"].as_str().unwrap_or_default();
        assert_eq!(time.len(), "2026-12-06T03:40:12.1234567Z".len(), "{time}");
        assert_eq!(time.parse::<Timestamp>().ok(), Some(all[0].timestamp));
        let id = v["id"].as_str().unwrap_or_default();
        assert!(id.starts_with(&format!("{}/events/{}/ticks/", all[0].target.resource_id, all[0].event_data_id)), "{id}");
        st.reset();
        assert!(st.activity.is_empty());
    }

    #[test]
    fn select_keeps_the_named_fields() {
        let e = event("/x", "rg", "Microsoft.Network/virtualNetworks", "2026-01-01T00:00:00Z", "c").to_json();
        let sel: Vec<String> = ["eventTimestamp", "resourceid", "operationName", "status"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = project(e, &sel);
        let keys: Vec<&str> = p.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        assert_eq!(keys.len(), 4, "{keys:?}");
        for k in ["eventTimestamp", "resourceId", "operationName", "status"] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
    }

    #[test]
    fn operation_names() {
        let t = Target {
            resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa".into(),
            sub: "s".into(),
            rg: "rg".into(),
            rtype: "Microsoft.Storage/storageAccounts".into(),
        };
        assert_eq!(t.operation(&Verb::Action("listKeys".into())), "Microsoft.Storage/storageAccounts/listKeys/action");
        assert_eq!(t.operation(&Verb::Delete), "Microsoft.Storage/storageAccounts/delete");
        let st = State::new(EmulatorConfig::default().with_resource_group("s", "RG"));
        let (t, verb) = request_subject(&st, &Method::DELETE, &path::parse("/subscriptions/s/resourcegroups/rg")).expect("recorded");
        assert_eq!(t.resource_id, "/subscriptions/s/resourceGroups/RG");
        assert_eq!(t.operation(&verb), "Microsoft.Resources/subscriptions/resourceGroups/delete");
        let (t, verb) = request_subject(
            &st,
            &Method::POST,
            &path::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/listKeys"),
        )
        .expect("recorded");
        assert_eq!(t.resource_id, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa");
        assert_eq!(t.operation(&verb), "Microsoft.Storage/storageAccounts/listKeys/action");
        assert!(request_subject(&st, &Method::GET, &path::parse("/subscriptions/s/resourcegroups/rg")).is_none());
        assert!(request_subject(&st, &Method::PUT, &path::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks")).is_none());
    }

    #[test]
    fn the_list_is_a_subscription_read_outside_the_provider_limits() {
        let p = path::parse("/subscriptions/s/providers/Microsoft.Insights/eventtypes/management/values");
        assert_eq!(p, ArmPath::ActivityLog { sub: "s".into() });
        let t = super::super::http::request_type(&p).expect("a type");
        assert_eq!(t, EVENT_TYPES);
        assert_eq!(super::super::ArmLimits::public_cloud().provider_for(&t), None);
        assert_eq!(super::super::ratelimit::RateClass::of_method(&Method::GET), super::super::ratelimit::RateClass::Read);
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("a b'/:"), "a%20b%27%2F%3A");
    }
}
