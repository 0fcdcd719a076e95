//! ARM request dispatch: resource groups, generic resource GET/list/PUT/PATCH/DELETE with the
//! per-type hooks, LRO poll URLs, subscription-wide lists and soft-deleted vaults.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};

use super::error::ArmError;
use super::hooks::{self, WriteCtx};
use super::path::{self, ArmPath, ResourcePath};
use super::state::{Entry, OpKind, OpStatus, Prov, RgEntry, State, normalize_location, rg_key};
use super::types::{self, DeleteMode, TypeSpec, WriteMode};

/// An ARM request, already read.
pub struct ArmRequest<'a> {
    pub method: &'a Method,
    /// Path without query.
    pub path: &'a str,
    pub parsed: &'a ArmPath,
    /// Query parameters with lower-cased names.
    pub query: &'a HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// `http://host:port`, used for absolute URLs (nextLink, Location, Azure-AsyncOperation).
    pub base: &'a str,
    /// A `failLro` fault to attach to an operation this request starts.
    pub fail_lro: Option<ArmError>,
}

/// A successful ARM answer.
#[derive(Debug)]
pub struct ArmResponse {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    /// Whether the `failLro` fault was attached to an operation.
    pub used_fail_lro: bool,
}

impl ArmResponse {
    fn new(status: StatusCode, body: Option<Value>) -> Self {
        ArmResponse {
            status,
            headers: Vec::new(),
            body,
            used_fail_lro: false,
        }
    }

    fn ok(body: Value) -> Self {
        Self::new(StatusCode::OK, Some(body))
    }

    fn empty(status: StatusCode) -> Self {
        Self::new(status, None)
    }
}

type ArmResult = Result<ArmResponse, ArmError>;

pub fn dispatch(st: &mut State, req: &ArmRequest<'_>) -> ArmResult {
    match req.parsed {
        ArmPath::Subscription { sub } => subscription(st, req, sub),
        ArmPath::ResourceGroups { sub } => list_resource_groups(st, req, sub),
        ArmPath::ResourceGroup { sub, rg } => resource_group(st, req, sub, rg),
        ArmPath::Resource(p) => resource(st, req, p),
        ArmPath::SubscriptionCollection { sub, ns, rtype } => {
            subscription_list(st, req, sub, ns, rtype)
        }
        ArmPath::Operation { kind, id, .. } => poll(st, req, kind, id),
        ArmPath::DeletedVaults { sub } => deleted_vaults(st, req, sub),
        ArmPath::DeletedVault {
            sub, name, purge, ..
        } => deleted_vault(st, req, sub, name, *purge),
        ArmPath::ActivityLog { sub } => super::activity::list(st, req, sub),
        ArmPath::Unknown => Err(ArmError::not_found(
            "NotFound",
            format!(
                "The requested path '{}' is not served by the ARM emulator.",
                req.path
            ),
        )),
    }
}

pub(super) fn method_not_allowed(method: &Method) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{method}'."),
    )
}

/// Checks `api-version` against the list; returns it.
pub fn check_api_version(
    query: &HashMap<String, String>,
    allowed: &[&str],
    type_name: &str,
    location: &str,
) -> Result<String, ArmError> {
    let Some(v) = query.get("api-version").filter(|v| !v.is_empty()) else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let supported = allowed.join(", ");
    if !types::api_version_well_formed(v) {
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{supported}'. The supported versions are listed in the resource provider's registration."
            ),
        ));
    }
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
        let leaf = type_name
            .split_once('/')
            .map(|(_, t)| t)
            .unwrap_or(type_name);
        return Err(ArmError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{location}' and API version '{v}' for type '{leaf}'. The supported api-versions are '{supported}'."
            ),
        ));
    }
    Ok(v.clone())
}

fn parse_body(bytes: &[u8]) -> Result<Map<String, Value>, ArmError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ArmError::invalid_content("the request body is empty"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ArmError::invalid_content(format!(
            "expected a JSON object, found {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
        Err(e) => Err(ArmError::invalid_content(e)),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Strips `W/` and quotes for ETag comparison.
fn etag_core(s: &str) -> &str {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.trim_matches('"')
}

fn precondition_failed() -> ArmError {
    ArmError::new(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "The condition specified using HTTP conditional header(s) is not met.",
    )
}

/// If-Match / If-None-Match per the ARM RPC table.
fn check_preconditions(
    headers: &HeaderMap,
    existing: Option<&Entry>,
    allow_if_none_match: bool,
) -> Result<(), ArmError> {
    if let Some(im) = header(headers, "if-match") {
        let Some(e) = existing else {
            return Err(precondition_failed());
        };
        let ok = im
            .split(',')
            .any(|t| t.trim() == "*" || etag_core(t) == etag_core(&e.etag));
        if !ok {
            return Err(precondition_failed());
        }
    }
    if allow_if_none_match
        && let Some(inm) = header(headers, "if-none-match")
        && existing.is_some()
    {
        let e = existing.map(|e| e.etag.as_str()).unwrap_or_default();
        if inm
            .split(',')
            .any(|t| t.trim() == "*" || etag_core(t) == etag_core(e))
        {
            return Err(precondition_failed());
        }
    }
    Ok(())
}

fn paged(st: &State, req: &ArmRequest<'_>, api: &str, items: Vec<Value>) -> ArmResponse {
    let page = st.cfg.page_size.max(1);
    let skip: usize = req
        .query
        .get("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let end = (skip + page).min(items.len());
    let value: Vec<Value> = items
        .get(skip.min(items.len())..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({ "value": value });
    if end < items.len()
        && let Some(o) = body.as_object_mut()
    {
        o.insert(
            "nextLink".into(),
            Value::String(format!(
                "{}{}?api-version={}&$skiptoken={}",
                req.base, req.path, api, end
            )),
        );
    }
    ArmResponse::ok(body)
}

// ---------------------------------------------------------------------------------------------
// Subscriptions and resource groups

fn subscription(st: &State, req: &ArmRequest<'_>, sub: &str) -> ArmResult {
    if req.method != Method::GET {
        return Err(method_not_allowed(req.method));
    }
    let v = req.query.get("api-version").cloned().unwrap_or_default();
    if v.is_empty() {
        check_api_version(req.query, &[], "subscriptions", "")?;
    }
    Ok(ArmResponse::ok(json!({
        "id": format!("/subscriptions/{sub}"),
        "subscriptionId": sub,
        "tenantId": st.cfg.tenant_id,
        "displayName": "ARM emulator subscription",
        "state": "Enabled",
    })))
}

fn list_resource_groups(st: &State, req: &ArmRequest<'_>, sub: &str) -> ArmResult {
    let api = check_api_version(
        req.query,
        types::RESOURCES_VERSIONS,
        types::RESOURCE_GROUP,
        "",
    )?;
    if req.method != Method::GET {
        return Err(method_not_allowed(req.method));
    }
    let items = st
        .rgs
        .values()
        .filter(|r| r.sub.eq_ignore_ascii_case(sub))
        .map(RgEntry::render)
        .collect();
    Ok(paged(st, req, &api, items))
}

fn resource_group(st: &mut State, req: &ArmRequest<'_>, sub: &str, rg: &str) -> ArmResult {
    let api = check_api_version(
        req.query,
        types::RESOURCES_VERSIONS,
        types::RESOURCE_GROUP,
        "",
    )?;
    let key = rg_key(sub, rg);
    match *req.method {
        Method::GET | Method::HEAD => {
            if let Some(op) = st
                .rgs
                .get(&key)
                .and_then(|r| r.prov.op().map(str::to_string))
            {
                st.tick(&op);
            }
            match st.rgs.get(&key) {
                Some(r) if req.method == Method::GET => Ok(ArmResponse::ok(r.render())),
                Some(_) => Ok(ArmResponse::empty(StatusCode::NO_CONTENT)),
                None if req.method == Method::HEAD => Ok(ArmResponse::empty(StatusCode::NOT_FOUND)),
                None => Err(ArmError::resource_group_not_found(rg)),
            }
        }
        Method::PUT => {
            let body = parse_body(req.body)?;
            let Some(loc) = body
                .get("location")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                return Err(ArmError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                ));
            };
            let loc = normalize_location(loc);
            let tags = body.get("tags").cloned();
            match st.rgs.get_mut(&key) {
                Some(existing) => {
                    if matches!(existing.prov, Prov::InFlight { .. }) {
                        return Err(rg_being_deleted(rg));
                    }
                    if existing.location != loc {
                        return Err(ArmError::conflict(
                            "InvalidResourceGroupLocation",
                            format!(
                                "Invalid resource group location '{loc}'. The Resource group already exists in location '{}'.",
                                existing.location
                            ),
                        ));
                    }
                    existing.tags = tags;
                    Ok(ArmResponse::ok(existing.render()))
                }
                None => {
                    let e = RgEntry {
                        sub: sub.to_string(),
                        name: rg.to_string(),
                        location: loc,
                        tags,
                        prov: Prov::Succeeded,
                    };
                    let v = e.render();
                    st.rgs.insert(key, e);
                    Ok(ArmResponse::new(StatusCode::CREATED, Some(v)))
                }
            }
        }
        Method::PATCH => {
            let body = parse_body(req.body)?;
            let Some(existing) = st.rgs.get_mut(&key) else {
                return Err(ArmError::resource_group_not_found(rg));
            };
            if let Some(t) = body.get("tags") {
                existing.tags = Some(t.clone());
            }
            Ok(ArmResponse::ok(existing.render()))
        }
        Method::DELETE => {
            let Some(existing) = st.rgs.get(&key) else {
                return Err(ArmError::resource_group_not_found(rg));
            };
            if matches!(existing.prov, Prov::InFlight { .. }) {
                let op = existing.prov.op().and_then(|o| st.ops.get(o)).cloned();
                let mut r = ArmResponse::empty(StatusCode::ACCEPTED);
                if let Some(op) = op {
                    r.headers.push(("Location", op.location_url(req.base)));
                    r.headers
                        .push(("Retry-After", st.cfg.retry_after_secs.to_string()));
                }
                return Ok(r);
            }
            let loc = existing.location.clone();
            let fail = req.fail_lro.clone();
            let used = fail.is_some();
            let op_id = st.start_op(
                OpKind::DeleteResourceGroup,
                "Microsoft.Resources",
                sub,
                &loc,
                &api,
                &key,
                None,
                Vec::new(),
                "Deleting",
                fail,
                false,
            );
            let mut r = ArmResponse::empty(StatusCode::ACCEPTED);
            if let Some(op) = st.ops.get(&op_id) {
                r.headers.push(("Location", op.location_url(req.base)));
                r.headers
                    .push(("Retry-After", st.cfg.retry_after_secs.to_string()));
            }
            r.used_fail_lro = used;
            Ok(r)
        }
        _ => Err(method_not_allowed(req.method)),
    }
}

fn rg_being_deleted(rg: &str) -> ArmError {
    ArmError::conflict(
        "ResourceGroupBeingDeleted",
        format!(
            "The resource group '{rg}' is in deprovisioning state and cannot perform this operation."
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Resources

fn resource(st: &mut State, req: &ArmRequest<'_>, p: &ResourcePath) -> ArmResult {
    let tstr = p.type_string();
    let location_hint = st.cfg.location_default.clone();
    let Some(spec) = types::lookup(&tstr) else {
        let v = req.query.get("api-version").cloned().unwrap_or_default();
        if v.is_empty() {
            check_api_version(req.query, &[], &tstr, &location_hint)?;
        }
        let leaf = p.types.join("/");
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type '{leaf}' could not be found in the namespace '{}' for api version '{v}'.",
                p.ns
            ),
        ));
    };
    let api = check_api_version(req.query, spec.api_versions, spec.canonical, &location_hint)?;
    let Some(rg) = st.rg(&p.sub, &p.rg) else {
        return Err(ArmError::resource_group_not_found(&p.rg));
    };
    let rg_deleting = matches!(rg.prov, Prov::InFlight { .. });
    if p.is_collection() {
        if req.method != Method::GET {
            return Err(method_not_allowed(req.method));
        }
        return list(st, req, p, spec, &api);
    }
    match *req.method {
        Method::GET | Method::HEAD => get(st, req, p, spec),
        Method::PUT => {
            if rg_deleting {
                return Err(rg_being_deleted(&p.rg));
            }
            write(st, req, p, spec, &api, false)
        }
        Method::PATCH => {
            if rg_deleting {
                return Err(rg_being_deleted(&p.rg));
            }
            write(st, req, p, spec, &api, true)
        }
        Method::DELETE => delete(st, req, p, spec, &api),
        _ => Err(method_not_allowed(req.method)),
    }
}

/// `(ns/type, name/childType/childName)` for `ResourceNotFound` messages
/// (ARM writes nested resources as `Microsoft.X/type/name/childType/childName`).
fn arm_name(p: &ResourcePath, spec: &TypeSpec, depth: usize) -> (String, String) {
    let mut tparts = spec.canonical.split('/');
    let ns = tparts.next().unwrap_or_default();
    let types: Vec<&str> = tparts.collect();
    let first = types.first().copied().unwrap_or_default();
    let mut n = p.names.first().cloned().unwrap_or_default();
    for (i, ty) in types.iter().enumerate().take(depth).skip(1) {
        n.push('/');
        n.push_str(ty);
        n.push('/');
        n.push_str(p.names.get(i).map(String::as_str).unwrap_or_default());
    }
    (format!("{ns}/{first}"), n)
}

fn parent_spec(spec: &TypeSpec) -> Option<&'static TypeSpec> {
    let (parent, _) = spec.canonical.rsplit_once('/')?;
    types::lookup(parent)
}

/// 404 for a missing resource, the way its provider answers.
fn missing(p: &ResourcePath, spec: &TypeSpec, id: &str) -> ArmError {
    if spec.network_child {
        return ArmError::not_found("NotFound", format!("Resource {id} not found."));
    }
    let (t, n) = arm_name(p, spec, spec.depth());
    ArmError::resource_not_found(&t, &n, &p.rg)
}

/// Checks the chain of parents exists; answers like ARM for nested resources.
fn check_parents(
    st: &State,
    p: &ResourcePath,
    spec: &'static TypeSpec,
    for_write: bool,
) -> Result<Option<String>, ArmError> {
    if spec.depth() < 2 {
        return Ok(None);
    }
    let Some(ps) = parent_spec(spec) else {
        return Ok(None);
    };
    let parent_names = &p.names[..spec.depth() - 1];
    let pid = path::build_id(&p.sub, &p.rg, ps, parent_names);
    let pkey = path::key_of(&pid);
    if st.get(&pkey).is_none() {
        if for_write {
            return Err(ArmError::not_found(
                "ParentResourceNotFound",
                format!(
                    "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
                    parent_names.join("/")
                ),
            ));
        }
        let (t, n) = arm_name(p, spec, spec.depth() - 1);
        return Err(ArmError::resource_not_found(&t, &n, &p.rg));
    }
    Ok(Some(pkey))
}

fn etag_header(r: &mut ArmResponse, e: &Entry) {
    if e.spec.etag != types::EtagKind::None {
        r.headers.push(("ETag", e.etag.clone()));
    }
}

fn get(
    st: &mut State,
    req: &ArmRequest<'_>,
    p: &ResourcePath,
    spec: &'static TypeSpec,
) -> ArmResult {
    let id = path::build_id(&p.sub, &p.rg, spec, &p.names);
    if spec.is(types::NSG_DEFAULT_RULE) {
        let pkey = check_parents(st, p, spec, false)?.unwrap_or_default();
        let parent = st.get(&pkey).cloned();
        let rule = parent.and_then(|n| {
            super::network::default_rules(&n).into_iter().find(|r| {
                r.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.eq_ignore_ascii_case(path::last_name(&id)))
            })
        });
        return rule
            .map(ArmResponse::ok)
            .ok_or_else(|| missing(p, spec, &id));
    }
    let key = path::key_of(&id);
    let Some(op) = st.get(&key).map(|e| e.prov.op().map(str::to_string)) else {
        check_parents(st, p, spec, false)?;
        return Err(missing(p, spec, &id));
    };
    if let Some(op) = op {
        st.tick(&op);
    }
    let Some(e) = st.get(&key) else {
        return Err(missing(p, spec, &id));
    };
    let mut r = if req.method == Method::HEAD {
        ArmResponse::empty(StatusCode::NO_CONTENT)
    } else {
        ArmResponse::ok(st.render(e))
    };
    etag_header(&mut r, e);
    Ok(r)
}

fn list(
    st: &mut State,
    req: &ArmRequest<'_>,
    p: &ResourcePath,
    spec: &'static TypeSpec,
    api: &str,
) -> ArmResult {
    let items: Vec<Value> = if spec.depth() < 2 {
        st.of_type(spec.canonical)
            .into_iter()
            .filter(|e| e.sub.eq_ignore_ascii_case(&p.sub) && e.rg.eq_ignore_ascii_case(&p.rg))
            .map(|e| st.render(e))
            .collect()
    } else {
        let pkey = check_parents(st, p, spec, false)?.unwrap_or_default();
        if spec.is(types::NSG_DEFAULT_RULE) {
            st.get(&pkey)
                .map(super::network::default_rules)
                .unwrap_or_default()
        } else if spec.is(types::DNS_ALL) {
            let mut all: Vec<&Entry> = st
                .entries
                .values()
                .filter(|e| {
                    e.parent.as_deref() == Some(pkey.as_str())
                        && super::services::is_record_type(e.spec)
                })
                .collect();
            all.sort_by_key(|e| e.seq);
            all.into_iter().map(|e| st.render(e)).collect()
        } else {
            st.children(&pkey, spec.canonical)
                .into_iter()
                .map(|e| st.render(e))
                .collect()
        }
    };
    Ok(paged(st, req, api, items))
}

fn subscription_list(
    st: &State,
    req: &ArmRequest<'_>,
    sub: &str,
    ns: &str,
    rtype: &str,
) -> ArmResult {
    let tstr = format!("{ns}/{rtype}");
    let Some(spec) = types::lookup(&tstr).filter(|s| s.depth() == 1) else {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!("The resource type '{rtype}' could not be found in the namespace '{ns}'."),
        ));
    };
    let api = check_api_version(
        req.query,
        spec.api_versions,
        spec.canonical,
        &st.cfg.location_default,
    )?;
    if req.method != Method::GET {
        return Err(method_not_allowed(req.method));
    }
    let items = st
        .of_type(spec.canonical)
        .into_iter()
        .filter(|e| e.sub.eq_ignore_ascii_case(sub))
        .map(|e| st.render(e))
        .collect();
    Ok(paged(st, req, &api, items))
}

/// PUT (and PATCH) of a resource.
fn write(
    st: &mut State,
    req: &ArmRequest<'_>,
    p: &ResourcePath,
    spec: &'static TypeSpec,
    api: &str,
    is_patch: bool,
) -> ArmResult {
    let mode_cfg = if is_patch { spec.patch } else { spec.put };
    if spec.read_only || mode_cfg == WriteMode::Unsupported {
        if spec.read_only {
            return Err(ArmError::bad_request(
                "OperationNotAllowed",
                format!(
                    "Resources of type '{}' are managed by the platform and cannot be written directly.",
                    spec.canonical
                ),
            ));
        }
        return Err(method_not_allowed(req.method));
    }
    let parent = check_parents(st, p, spec, true)?;
    let mut body = parse_body(req.body)?;
    let built_id = path::build_id(&p.sub, &p.rg, spec, &p.names);
    let key = path::key_of(&built_id);
    let existing = st.get(&key).cloned();
    if is_patch && existing.is_none() {
        return Err(missing(p, spec, &built_id));
    }
    if spec.if_match {
        check_preconditions(req.headers, existing.as_ref(), !is_patch)?;
    }
    let root = path::key_of(&path::root_id(&built_id));
    st.check_lock(&root, req.base)?;

    // Network PATCH on a parent with inline children only updates tags.
    if is_patch && (spec.is(types::VNET) || spec.is(types::NSG) || spec.is(types::ROUTE_TABLE)) {
        let Some(mut e) = existing else {
            return Err(missing(p, spec, &built_id));
        };
        if let Some(t) = body.get("tags") {
            e.body.insert("tags".into(), t.clone());
        }
        e.etag = State::new_etag(spec);
        let mut r = ArmResponse::ok(st.render(&e));
        etag_header(&mut r, &e);
        st.entries.insert(key, e);
        return Ok(r);
    }

    if is_patch {
        // Merge the patch into what was written before, then validate as a PUT would.
        let mut merged = Value::Object(
            existing
                .as_ref()
                .map(|e| e.body.clone())
                .unwrap_or_default(),
        );
        hooks::sanitize(spec, &mut body);
        super::json::merge_patch(&mut merged, &Value::Object(body));
        body = match merged {
            Value::Object(m) => m,
            _ => Map::new(),
        };
    }
    hooks::sanitize(spec, &mut body);

    // Location.
    let root_location = st
        .get(&root)
        .and_then(|r| r.body.get("location"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let location = if spec.tracked {
        let given = body
            .get("location")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(normalize_location);
        let loc = match given {
            Some(l) => l,
            None if spec.is(types::DNS_ZONE) || spec.is(types::DNS_LINK) => "global".to_string(),
            None if spec.depth() > 1 => root_location
                .clone()
                .unwrap_or_else(|| st.cfg.location_default.clone()),
            None => {
                return Err(ArmError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                ));
            }
        };
        if let Some(old) = existing
            .as_ref()
            .and_then(|e| e.body.get("location"))
            .and_then(Value::as_str)
            && !old.eq_ignore_ascii_case(&loc)
        {
            return Err(ArmError::bad_request(
                "InvalidResourceLocation",
                format!(
                    "The resource '{}' already exists in location '{old}' in resource group '{}'. A resource with the same name cannot be created in location '{loc}'. Please select a new resource name.",
                    p.names.last().map(String::as_str).unwrap_or_default(),
                    p.rg
                ),
            ));
        }
        body.insert("location".into(), Value::String(loc.clone()));
        loc
    } else {
        body.remove("location");
        root_location.unwrap_or_else(|| st.cfg.location_default.clone())
    };

    let id = existing.as_ref().map(|e| e.id.clone()).unwrap_or(built_id);
    let name = existing
        .as_ref()
        .map(|e| e.name.clone())
        .unwrap_or_else(|| p.names.last().cloned().unwrap_or_default());
    let mut w = WriteCtx {
        spec,
        id,
        key: key.clone(),
        name,
        sub: p.sub.clone(),
        rg: p.rg.clone(),
        parent,
        root: root.clone(),
        body,
        meta: existing
            .as_ref()
            .map(|e| e.meta.clone())
            .unwrap_or_default(),
        existing: existing.clone(),
        location: location.clone(),
        affected: Vec::new(),
    };
    hooks::prepare(st, &mut w)?;

    let created = existing.is_none();
    let seq = existing
        .as_ref()
        .map(|e| e.seq)
        .unwrap_or_else(|| st.next_seq());
    let entry = Entry {
        id: w.id.clone(),
        key: key.clone(),
        spec,
        name: w.name.clone(),
        sub: existing
            .as_ref()
            .map(|e| e.sub.clone())
            .unwrap_or_else(|| p.sub.clone()),
        rg: existing
            .as_ref()
            .map(|e| e.rg.clone())
            .unwrap_or_else(|| p.rg.clone()),
        parent: w.parent.clone(),
        root: root.clone(),
        body: w.body,
        meta: w.meta,
        etag: State::new_etag(spec),
        prov: Prov::Succeeded,
        seq,
        created_at: existing
            .as_ref()
            .map(|e| e.created_at.clone())
            .unwrap_or_else(super::state::now_rfc3339),
    };
    st.entries.insert(key.clone(), entry);
    hooks::after_write(st, &key);

    let mode = match (is_patch, created, spec.put_update) {
        (false, false, Some(m)) => m,
        _ => mode_cfg,
    };
    let retry = st.cfg.retry_after_secs.to_string();
    let mut affected = vec![key.clone()];
    affected.extend(w.affected);
    let label = if created {
        spec.creating_label
    } else {
        "Updating"
    };
    let kind = if is_patch { OpKind::Patch } else { OpKind::Put };
    let mut resp = match mode {
        WriteMode::AsyncOp { with_location } => {
            let fail = req.fail_lro.clone();
            let used = fail.is_some();
            let op_id = st.start_op(
                kind,
                spec.namespace(),
                &p.sub,
                &location,
                api,
                &key,
                Some(root),
                affected,
                label,
                fail,
                false,
            );
            let status = if created && !is_patch {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = st.render_key(&key);
            let mut r = ArmResponse::new(status, body);
            if let Some(op) = st.ops.get(&op_id) {
                r.headers
                    .push(("Azure-AsyncOperation", op.async_url(req.base)));
                if with_location {
                    r.headers.push(("Location", op.location_url(req.base)));
                }
            }
            r.headers.push(("Retry-After", retry));
            r.used_fail_lro = used;
            r
        }
        WriteMode::Accepted => {
            let fail = req.fail_lro.clone();
            let used = fail.is_some();
            let storage = spec.is(types::STORAGE);
            let op_id = st.start_op(
                kind,
                spec.namespace(),
                &p.sub,
                &location,
                api,
                &key,
                Some(root),
                affected,
                label,
                fail,
                storage,
            );
            let mut r = ArmResponse::empty(StatusCode::ACCEPTED);
            if let Some(op) = st.ops.get(&op_id) {
                r.headers.push(("Location", op.location_url(req.base)));
                if !storage {
                    r.headers
                        .push(("Azure-AsyncOperation", op.async_url(req.base)));
                }
            }
            r.headers.push(("Retry-After", retry));
            r.used_fail_lro = used;
            r
        }
        WriteMode::Sync { created_status } => {
            let status = if created {
                StatusCode::from_u16(created_status).unwrap_or(StatusCode::OK)
            } else {
                StatusCode::OK
            };
            ArmResponse::new(status, st.render_key(&key))
        }
        WriteMode::Unsupported => return Err(method_not_allowed(req.method)),
    };
    if let Some(e) = st.get(&key) {
        etag_header(&mut resp, e);
    }
    Ok(resp)
}

fn delete(
    st: &mut State,
    req: &ArmRequest<'_>,
    p: &ResourcePath,
    spec: &'static TypeSpec,
    api: &str,
) -> ArmResult {
    if spec.read_only || spec.delete == DeleteMode::Unsupported {
        return Err(ArmError::bad_request(
            "OperationNotAllowed",
            format!(
                "Resources of type '{}' are managed by the platform and cannot be deleted directly.",
                spec.canonical
            ),
        ));
    }
    let id = path::build_id(&p.sub, &p.rg, spec, &p.names);
    let key = path::key_of(&id);
    let Some(e) = st.get(&key).cloned() else {
        return Ok(ArmResponse::empty(StatusCode::NO_CONTENT));
    };
    if spec.if_match {
        check_preconditions(req.headers, Some(&e), false)?;
    }
    // A delete of something already being deleted answers like the first one did.
    if let Prov::InFlight {
        op,
        label: "Deleting",
    } = &e.prov
        && let Some(op) = st.ops.get(op)
    {
        let mut r = ArmResponse::empty(StatusCode::ACCEPTED);
        r.headers.push(("Location", op.location_url(req.base)));
        r.headers
            .push(("Azure-AsyncOperation", op.async_url(req.base)));
        r.headers
            .push(("Retry-After", st.cfg.retry_after_secs.to_string()));
        return Ok(r);
    }
    st.check_lock(&e.root, req.base)?;
    hooks::check_delete(st, &e)?;
    match spec.delete {
        DeleteMode::Accepted => {
            let mut affected = vec![key.clone()];
            affected.extend(st.descendants(&key));
            let location = st
                .get(&e.root)
                .and_then(|r| r.body.get("location"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| st.cfg.location_default.clone());
            let fail = req.fail_lro.clone();
            let used = fail.is_some();
            let op_id = st.start_op(
                OpKind::Delete,
                spec.namespace(),
                &p.sub,
                &location,
                api,
                &key,
                Some(e.root.clone()),
                affected,
                "Deleting",
                fail,
                false,
            );
            let mut r = ArmResponse::empty(StatusCode::ACCEPTED);
            if let Some(op) = st.ops.get(&op_id) {
                r.headers.push(("Location", op.location_url(req.base)));
                r.headers
                    .push(("Azure-AsyncOperation", op.async_url(req.base)));
            }
            r.headers
                .push(("Retry-After", st.cfg.retry_after_secs.to_string()));
            r.used_fail_lro = used;
            Ok(r)
        }
        DeleteMode::Sync => {
            st.remove_with_effects(&key);
            Ok(ArmResponse::empty(StatusCode::OK))
        }
        DeleteMode::Unsupported => Err(method_not_allowed(req.method)),
    }
}

// ---------------------------------------------------------------------------------------------
// LRO polls

fn poll(st: &mut State, req: &ArmRequest<'_>, kind: &str, id: &str) -> ArmResult {
    if req.method != Method::GET {
        return Err(method_not_allowed(req.method));
    }
    if req.query.get("api-version").is_none_or(|v| v.is_empty()) {
        check_api_version(req.query, &[], "operations", "")?;
    }
    if !st.ops.contains_key(id) {
        return Err(ArmError::not_found(
            "NotFound",
            format!("The operation '{id}' could not be found."),
        ));
    }
    st.tick(id);
    let Some(op) = st.ops.get(id).cloned() else {
        return Err(ArmError::not_found(
            "NotFound",
            format!("The operation '{id}' could not be found."),
        ));
    };
    let retry = st.cfg.retry_after_secs.to_string();
    let is_status = [
        "operations",
        "operationstatuses",
        "workspaceoperationsstatus",
        "privatednsoperationstatuses",
    ]
    .iter()
    .any(|k| kind.eq_ignore_ascii_case(k));
    if is_status {
        let mut r = ArmResponse::ok(op.status_body());
        if op.status == OpStatus::InProgress {
            r.headers.push(("Retry-After", retry));
        }
        return Ok(r);
    }
    // Location semantics.
    match op.status {
        OpStatus::InProgress => {
            let mut r = ArmResponse::empty(StatusCode::ACCEPTED);
            r.headers.push(("Location", op.location_url(req.base)));
            r.headers.push(("Retry-After", retry));
            Ok(r)
        }
        OpStatus::Failed => Err(op.fail.clone().unwrap_or_else(|| {
            ArmError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "The operation failed.",
            )
        })),
        OpStatus::Succeeded => match op.kind {
            OpKind::Put | OpKind::Patch => match st.render_key(&op.target) {
                Some(body) => Ok(ArmResponse::ok(body)),
                None => Ok(ArmResponse::empty(StatusCode::NO_CONTENT)),
            },
            OpKind::Delete => Ok(ArmResponse::empty(StatusCode::NO_CONTENT)),
            OpKind::DeleteResourceGroup => Ok(ArmResponse::empty(StatusCode::OK)),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Soft-deleted key vaults

fn deleted_vaults(st: &State, req: &ArmRequest<'_>, sub: &str) -> ArmResult {
    let api = check_api_version(
        req.query,
        types::KEYVAULT_VERSIONS,
        "Microsoft.KeyVault/deletedVaults",
        "",
    )?;
    if req.method != Method::GET {
        return Err(method_not_allowed(req.method));
    }
    let items = st
        .deleted_vaults
        .values()
        .filter(|d| d.sub.eq_ignore_ascii_case(sub))
        .map(|d| d.render())
        .collect();
    Ok(paged(st, req, &api, items))
}

fn deleted_vault(
    st: &mut State,
    req: &ArmRequest<'_>,
    sub: &str,
    name: &str,
    purge: bool,
) -> ArmResult {
    check_api_version(
        req.query,
        types::KEYVAULT_VERSIONS,
        "Microsoft.KeyVault/deletedVaults",
        "",
    )?;
    let key = name.to_ascii_lowercase();
    let found = st
        .deleted_vaults
        .get(&key)
        .filter(|d| d.sub.eq_ignore_ascii_case(sub))
        .cloned();
    let not_found = || {
        ArmError::not_found(
            "ResourceNotFound",
            format!("The deleted vault '{name}' could not be found."),
        )
    };
    match (req.method.clone(), purge) {
        (Method::GET, false) => found
            .map(|d| ArmResponse::ok(d.render()))
            .ok_or_else(not_found),
        (Method::POST, true) => {
            if found.is_none() {
                return Err(not_found());
            }
            st.deleted_vaults.remove(&key);
            Ok(ArmResponse::empty(StatusCode::OK))
        }
        _ => Err(method_not_allowed(req.method)),
    }
}
