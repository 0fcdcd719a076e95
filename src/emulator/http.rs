//! The HTTP edge of the ARM surface: authentication (and the principal a request counts
//! against), latency and fault injection, ARM's request limits (`ratelimit`), ARM headers and the
//! request log. Everything below is synchronous under one lock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::Emulator;
use super::admin::{Fault, LogEntry};
use super::activity;
use super::arm::{ArmRequest, ArmResponse};
use super::error::ArmError;
use super::path::{self, ArmPath};
use super::identity::{Identities, Principal, token_principal};
use super::ratelimit::{RateClass, RateRequest};
use super::state::{State, normalize_location, now_rfc3339};
use super::types;

/// Largest request body accepted.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The resource type a request is about, for the log and fault matching.
pub fn request_type(parsed: &ArmPath) -> Option<String> {
    match parsed {
        ArmPath::Resource(p) => {
            let t = p.type_string();
            Some(
                types::lookup(&t)
                    .map(|s| s.canonical.to_string())
                    .unwrap_or(t),
            )
        }
        ArmPath::ResourceGroup { .. } | ArmPath::ResourceGroups { .. } => {
            Some(types::RESOURCE_GROUP.to_string())
        }
        ArmPath::Subscription { .. } => Some("Microsoft.Resources/subscriptions".into()),
        ArmPath::Operation { ns, kind, .. } => Some(format!("{ns}/locations/{kind}")),
        ArmPath::SubscriptionCollection { ns, rtype, .. } => {
            let t = format!("{ns}/{rtype}");
            Some(
                types::lookup(&t)
                    .map(|s| s.canonical.to_string())
                    .unwrap_or(t),
            )
        }
        ArmPath::DeletedVaults { .. } | ArmPath::DeletedVault { .. } => {
            Some("Microsoft.KeyVault/deletedVaults".into())
        }
        // A subscription read; no resource provider's limit applies to it.
        ArmPath::ActivityLog { .. } => Some(super::activity::EVENT_TYPES.into()),
        ArmPath::Unknown => None,
    }
}

fn subscription_of(parsed: &ArmPath) -> Option<&str> {
    match parsed {
        ArmPath::Resource(p) => Some(&p.sub),
        ArmPath::ResourceGroup { sub, .. }
        | ArmPath::ResourceGroups { sub }
        | ArmPath::Subscription { sub }
        | ArmPath::Operation { sub, .. }
        | ArmPath::SubscriptionCollection { sub, .. }
        | ArmPath::DeletedVaults { sub }
        | ArmPath::DeletedVault { sub, .. }
        | ArmPath::ActivityLog { sub } => Some(sub),
        ArmPath::Unknown => None,
    }
}

fn rate_class(m: &Method) -> RateClass {
    RateClass::of_method(m)
}

/// The region of the resource a request is about, for the resource providers' limits: the
/// stored location of the resource (of its top-level parent for a child), the `location` of a
/// PUT that creates it, the region of an operation's URL, else the default location.
fn region_of(st: &State, parsed: &ArmPath, method: &Method, body: &[u8]) -> String {
    match parsed {
        ArmPath::Operation { location, .. } => normalize_location(location),
        ArmPath::Resource(p) if !p.names.is_empty() => {
            let root = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{}",
                p.sub, p.rg, p.ns, p.types[0], p.names[0]
            );
            let stored = st
                .get(&path::key_of(&root))
                .and_then(|e| e.body.get("location"))
                .and_then(Value::as_str)
                .map(normalize_location);
            stored
                .or_else(|| {
                    (*method == Method::PUT && p.names.len() == 1)
                        .then(|| serde_json::from_slice::<Value>(body).ok())
                        .flatten()
                        .and_then(|v| v.get("location").and_then(Value::as_str).map(normalize_location))
                })
                .unwrap_or_else(|| normalize_location(&st.cfg.location_default))
        }
        _ => normalize_location(&st.cfg.location_default),
    }
}

/// ARM is HTTPS only: every URL the emulator returns is absolute https on the host the caller used.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("https://{host}")
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

/// Who sent the request. With `required` set (a token, or `"*"` for any), a request without a
/// valid bearer token is refused; tokens the identity endpoint issued are always valid until they
/// expire, and belong to their identity.
fn check_auth(
    required: Option<&str>,
    headers: &HeaderMap,
    ids: &Identities,
    now: i64,
) -> Result<Principal, ArmError> {
    let www = (
        "WWW-Authenticate",
        "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\"".to_string(),
    );
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")).map(str::trim));
    if let Some(Some(given)) = bearer
        && let Some(found) = ids.lookup(given, now)
    {
        return match found {
            Ok(id) => Ok(Principal::Managed { principal_id: id.principal_id.clone() }),
            Err(()) => {
                let mut e = ArmError::new(
                    StatusCode::UNAUTHORIZED,
                    "ExpiredAuthenticationToken",
                    "The access token expiry UTC time is earlier than current UTC time.",
                );
                e.headers.push(www);
                Err(e)
            }
        };
    }
    let Some(token) = required else {
        return Ok(match bearer {
            Some(Some(t)) if !t.is_empty() => Principal::Token { id: token_principal(t) },
            _ => Principal::Anonymous,
        });
    };
    let Some(bearer) = bearer else {
        let mut e = ArmError::new(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
        e.headers.push(www);
        return Err(e);
    };
    let Some(given) = bearer else {
        let mut e = ArmError::new(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        );
        e.headers.push(www);
        return Err(e);
    };
    let ok = if token == "*" {
        !given.trim().is_empty()
    } else {
        given.trim() == token
    };
    if !ok {
        let mut e = ArmError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        );
        e.headers.push(www);
        return Err(e);
    }
    Ok(Principal::Token { id: token_principal(given) })
}

fn throttle_error(sub: &str, class: RateClass, secs: u64, code: Option<&str>) -> ArmError {
    let mut e = ArmError::new(
        StatusCode::TOO_MANY_REQUESTS,
        code.unwrap_or("SubscriptionRequestsThrottled"),
        format!(
            "Number of '{}' requests for subscription '{sub}' actor 'emulator' exceeded. Please try again after '{secs}' seconds after the last request.",
            class.word()
        ),
    );
    e.retry_after = Some(secs);
    e
}

fn set_header(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}

fn build(status: StatusCode, headers: &[(&str, String)], body: Option<&Value>) -> Response {
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap_or_default())
        .unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if body.is_some() {
        set_header(h, "content-type", "application/json; charset=utf-8");
    }
    set_header(h, "cache-control", "no-cache");
    set_header(h, "pragma", "no-cache");
    set_header(h, "expires", "-1");
    for (k, v) in headers {
        set_header(h, k, v);
    }
    resp
}

/// The axum fallback that serves every ARM path.
pub async fn arm_handler(AxState(emu): AxState<Emulator>, req: Request) -> Response {
    let started = Instant::now();
    let time = now_rfc3339();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path_only = parts.uri.path().to_string();
    if path_only.starts_with("/_emulator") {
        let e = ArmError::not_found("NotFound", format!("No admin route {method} {path_only}."));
        return build(e.status, &[], Some(&e.body()));
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| path_only.clone());
    let headers = parts.headers;
    let base = base_url(&headers);
    let parsed = path::parse(&path_only);
    let rtype = request_type(&parsed);
    let query = parse_query(parts.uri.query());
    let client_request_id = headers
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let correlation = headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(super::state::new_guid);
    let mut applied: Vec<String> = Vec::new();

    let body_bytes = axum::body::to_bytes(body, BODY_LIMIT).await;

    // Who is asking, faults and latency are decided under the lock, waited outside it.
    let (latency, principal, delay, terminal, fail_lro, lost, journal_on) = emu.with_state(|st| {
        st.expire_ops();
        // Operations that ended on their own time are Azure's doing, not the test's.
        st.journal_commit("arm");
        let principal = check_auth(
            st.cfg.require_token.as_deref(),
            &headers,
            &st.identities,
            jiff::Timestamp::now().as_second(),
        );
        let mut delay = Duration::ZERO;
        let mut terminal: Option<ArmError> = None;
        let mut fail_lro: Option<(u64, ArmError)> = None;
        let mut lost: Option<ArmError> = None;
        let m = method.as_str();
        for rule in st.faults.iter_mut() {
            if !rule.matches(m, rtype.as_deref(), &path_only) || !rule.roll() {
                continue;
            }
            match &rule.fault {
                Fault::Delay { millis } => {
                    delay += Duration::from_millis(*millis);
                    rule.fired += 1;
                    applied.push("delay".into());
                }
                Fault::Throttle {
                    retry_after_seconds,
                    code,
                } if terminal.is_none() => {
                    let sub = subscription_of(&parsed).unwrap_or("unknown");
                    terminal = Some(throttle_error(
                        sub,
                        rate_class(&method),
                        *retry_after_seconds,
                        code.as_deref(),
                    ));
                    rule.fired += 1;
                    applied.push("throttle".into());
                }
                Fault::Error {
                    status,
                    code,
                    message,
                } if terminal.is_none() => {
                    let status =
                        StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    terminal = Some(ArmError::new(status, code.clone(), message.clone()));
                    rule.fired += 1;
                    applied.push("error".into());
                }
                Fault::ErrorAfter {
                    status,
                    code,
                    message,
                } if lost.is_none() && terminal.is_none() => {
                    let status =
                        StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    lost = Some(ArmError::new(status, code.clone(), message.clone()));
                    rule.fired += 1;
                    applied.push("errorAfter".into());
                }
                Fault::FailLro {
                    code,
                    message,
                    status,
                } if fail_lro.is_none() => {
                    let status = status
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .unwrap_or(StatusCode::BAD_REQUEST);
                    fail_lro = Some((
                        rule.id,
                        ArmError::new(status, code.clone(), message.clone()),
                    ));
                }
                _ => {}
            }
        }
        (st.cfg.latency, principal, delay, terminal, fail_lro, lost, st.cfg.journal)
    });
    let logged_body: Option<serde_json::Value> = if journal_on && matches!(method.as_str(), "PUT" | "PATCH" | "POST") {
        body_bytes.as_ref().ok().and_then(|b| serde_json::from_slice(b).ok())
    } else {
        None
    };

    let mut rate_headers: Vec<(String, String)> = Vec::new();
    let outcome: Result<ArmResponse, ArmError> = async {
        let principal = principal?;
        let wait = latency + delay;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let body = body_bytes.map_err(ArmError::invalid_content)?;
        emu.with_state(|st| {
            // ARM's limits first: a throttled request is not processed at all.
            let provider = rtype
                .as_deref()
                .filter(|t| st.cfg.limits.provider_for(t).is_some())
                .map(|t| (t, region_of(st, &parsed, &method, &body)));
            let rate = RateRequest {
                subscription: subscription_of(&parsed),
                principal: principal.id(),
                class: rate_class(&method),
                provider,
            };
            let now = st.cfg.clock.now();
            let decided = st.limiter.admit(
                &st.cfg.limits,
                st.cfg.enforce_rate_limits,
                now,
                &st.cfg.tenant_id,
                &rate,
            );
            rate_headers = decided.headers;
            if let Some(refused) = decided.refused {
                return Err(refused);
            }
            if let Some(t) = terminal {
                return Err(t);
            }
            let req = ArmRequest {
                method: &method,
                path: &path_only,
                parsed: &parsed,
                query: &query,
                headers: &headers,
                body: &body,
                base: &base,
                fail_lro: fail_lro.as_ref().map(|(_, e)| e.clone()),
            };
            // Mutating requests (and the operations they end) go to the Activity Log.
            let r = activity::dispatch_recorded(st, &req, principal.id(), &correlation);
            st.journal_commit("arm");
            let r = r?;
            if r.used_fail_lro
                && let Some((id, _)) = &fail_lro
                && let Some(rule) = st.faults.iter_mut().find(|f| f.id == *id)
            {
                rule.fired += 1;
            }
            Ok(r)
        })
    }
    .await;
    if matches!(&outcome, Ok(r) if r.used_fail_lro) {
        applied.push("failLro".into());
    }
    // The request was applied; its response is lost on the way back.
    let outcome = match (outcome, lost) {
        (Ok(_), Some(e)) => Err(e),
        (o, _) => o,
    };

    let mut common: Vec<(&str, String)> = vec![
        ("x-ms-request-id", super::state::new_guid()),
        ("x-ms-correlation-request-id", correlation),
    ];
    if let Some(c) = &client_request_id {
        common.push(("x-ms-client-request-id", c.clone()));
    }
    common.extend(rate_headers.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let response = match &outcome {
        Ok(r) => {
            let mut hs = common;
            hs.extend(r.headers.iter().map(|(k, v)| (*k, v.clone())));
            build(r.status, &hs, r.body.as_ref())
        }
        Err(e) => {
            let mut hs = common;
            if let Some(s) = e.retry_after {
                hs.push(("Retry-After", s.to_string()));
            }
            hs.extend(e.headers.iter().map(|(k, v)| (*k, v.clone())));
            build(e.status, &hs, Some(&e.body()))
        }
    };
    let status = response.status().as_u16();
    let entry = LogEntry {
        seq: 0,
        time,
        method: method.to_string(),
        path: path_and_query,
        resource_type: rtype,
        status,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        faults: applied,
        client_request_id,
        body: logged_body,
    };
    emu.with_state(|st| st.push_log(entry));
    response
}
