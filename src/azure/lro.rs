//! Long-running operations (azure-arm-facts.md §4.1).
//!
//! - The initial response decides whether the operation is already done (200/201 with a
//!   terminal or absent `provisioningState` and no poll header, 204 for DELETE) or pending.
//! - Polling prefers `Azure-AsyncOperation`, then `Location`, then (when neither header was
//!   sent but the body says the resource is still provisioning) a GET of the resource itself.
//! - `Retry-After` (integer seconds) sets the next wait, clamped to [`LroPolicy::poll_bounds`];
//!   without it the wait is [`LroPolicy::default_poll_interval`].
//! - After success, PUT and PATCH end with a GET of the resource.
//! - Everything needed to continue is in a serializable [`LroToken`]; a controller stores it in
//!   its CR status and calls [`crate::azure::ArmClient::poll_once`] on each reconcile, or
//!   [`crate::azure::ArmClient::resume`] to wait.
//!
//! The functions here are pure; the client does the I/O.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::error::{ArmError, ArmErrorKind, ArmErrorBody};
use super::id::ResourceId;
use super::models::ProvisioningState;
use super::retry::{RetryAfterBounds, parse_retry_after, secs};

/// The kind of request that started the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LroOperation {
    /// Create or replace.
    Put,
    /// Partial update.
    Patch,
    /// Delete.
    Delete,
    /// Action.
    Post,
}

impl LroOperation {
    /// The HTTP method.
    pub fn method(self) -> http::Method {
        match self {
            LroOperation::Put => http::Method::PUT,
            LroOperation::Patch => http::Method::PATCH,
            LroOperation::Delete => http::Method::DELETE,
            LroOperation::Post => http::Method::POST,
        }
    }
}

impl fmt::Display for LroOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LroOperation::Put => "PUT",
            LroOperation::Patch => "PATCH",
            LroOperation::Delete => "DELETE",
            LroOperation::Post => "POST",
        })
    }
}

/// What the status URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PollUrlKind {
    /// An `Azure-AsyncOperation` status resource (`{"status": ..., "error": ...}`).
    AzureAsyncOperation,
    /// A `Location` URL: 202 while running, then the final response.
    Location,
    /// The resource itself: poll its `provisioningState` (404 ends a DELETE).
    Resource,
}

/// A pending operation, serializable so it survives an operator restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LroToken {
    /// PUT / PATCH / DELETE / POST.
    pub operation: LroOperation,
    /// The resource the operation is on (final GET target).
    pub resource_id: ResourceId,
    /// api-version for the final GET.
    pub api_version: String,
    /// Absolute URL to poll (always on the configured ARM endpoint).
    pub status_url: String,
    /// What `status_url` is.
    pub url_kind: PollUrlKind,
    /// When the operation was submitted (RFC 3339).
    #[schemars(with = "String")]
    pub started_at: jiff::Timestamp,
    /// The resource's own `provisioningState` shows the operation while it runs (a PUT or PATCH
    /// answered 200/201 with a non-terminal state): whoever finds the resource without this
    /// token sees it busy and waits, so the token need not be saved before it is polled. False
    /// for a 202 (the resource may not even be visible until the operation ends) and a DELETE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tracked: bool,
}

/// How operations are polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LroPolicy {
    /// Clamp for `Retry-After` between polls (default 1 s ..= 600 s).
    pub poll_bounds: RetryAfterBounds,
    /// Wait between polls when the service sends no `Retry-After` (default 30 s).
    #[serde(with = "secs")]
    pub default_poll_interval: Duration,
    /// Blocking waits ([`crate::azure::ArmClient::put`] etc.) give up with
    /// [`ArmError::LroTimeout`] (carrying the token) after this long (default 1 h).
    #[serde(with = "secs")]
    pub max_wait: Duration,
}

impl Default for LroPolicy {
    fn default() -> Self {
        Self {
            poll_bounds: RetryAfterBounds::default(),
            default_poll_interval: Duration::from_secs(30),
            max_wait: Duration::from_secs(3600),
        }
    }
}

impl LroPolicy {
    /// The wait before the next poll, from the response headers.
    pub fn next_wait(&self, headers: &HeaderMap, now: jiff::Timestamp) -> Duration {
        match parse_retry_after(headers, now) {
            Some(d) => self.poll_bounds.clamp(d),
            None => self.poll_bounds.clamp(self.default_poll_interval),
        }
    }
}

/// Result of submitting a long-running request.
// `Pending` is the common case and short-lived; boxing the token would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Submitted<T> {
    /// Finished synchronously. `None` for DELETE and POST.
    Done(Option<T>),
    /// Still running: store the token, come back after `retry_after`.
    Pending {
        /// Where to poll.
        token: LroToken,
        /// Suggested wait before the first poll.
        retry_after: Duration,
    },
}

/// Result of one poll.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum PollStatus<T> {
    /// Still running. `token` may differ from the one polled (a new `Location`).
    Pending {
        /// Poll again after this.
        retry_after: Duration,
        /// The token to store.
        token: LroToken,
    },
    /// Succeeded. PUT/PATCH: the resource from the final GET; DELETE/POST: `None`.
    Done(Option<T>),
    /// The operation itself failed or was canceled (terminal; do not poll again).
    Failed(ArmError),
}

/// The `Azure-AsyncOperation` status resource.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    /// `InProgress`, `Succeeded`, `Failed`, `Canceled`, ...
    #[serde(default)]
    pub status: String,
    /// Error when Failed/Canceled.
    #[serde(default)]
    pub error: Option<ArmErrorBody>,
    /// Progress.
    #[serde(default)]
    pub percent_complete: Option<f64>,
}

/// Reads `properties.provisioningState` from a JSON body.
pub fn body_provisioning_state(body: &serde_json::Value) -> Option<ProvisioningState> {
    body.get("properties")?
        .get("provisioningState")?
        .as_str()
        .map(ProvisioningState::from)
}

/// What an initial PUT/PATCH/DELETE/POST response means.
#[derive(Debug, Clone, PartialEq)]
pub enum Initial {
    /// Finished.
    Done,
    /// Poll `url` (of `kind`), first after `retry_after`.
    Poll {
        /// The poll URL as sent (may be relative; the client resolves and vets it).
        url: String,
        /// Its kind.
        kind: PollUrlKind,
        /// First wait.
        retry_after: Duration,
        /// The resource's body shows the operation (see [`LroToken::tracked`]).
        tracked: bool,
    },
    /// The body already says the resource is Failed / Canceled.
    Failed(ProvisioningState),
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The poll URL from the headers: `Azure-AsyncOperation` first, then `Location`.
pub fn poll_url(headers: &HeaderMap) -> Option<(String, PollUrlKind)> {
    if let Some(u) = header(headers, "azure-asyncoperation") {
        return Some((u.to_string(), PollUrlKind::AzureAsyncOperation));
    }
    header(headers, "location").map(|u| (u.to_string(), PollUrlKind::Location))
}

/// Classifies an initial 2xx response. `resource_url` is the URL of the resource (for
/// provisioningState polling).
pub fn analyse_initial(
    op: LroOperation,
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<&serde_json::Value>,
    resource_url: &str,
    policy: &LroPolicy,
    now: jiff::Timestamp,
) -> Initial {
    let wait = policy.next_wait(headers, now);
    let poll = poll_url(headers);
    let state = body.and_then(body_provisioning_state);
    let tracked = matches!(op, LroOperation::Put | LroOperation::Patch)
        && status != StatusCode::ACCEPTED
        && state.as_ref().is_some_and(|s| !matches!(s, ProvisioningState::Succeeded | ProvisioningState::Failed | ProvisioningState::Canceled));
    let poll_or_resource = |poll: Option<(String, PollUrlKind)>| {
        let (url, kind) = poll.unwrap_or_else(|| (resource_url.to_string(), PollUrlKind::Resource));
        Initial::Poll {
            url,
            kind,
            retry_after: wait,
            tracked,
        }
    };
    match (op, status.as_u16()) {
        (LroOperation::Delete, 200 | 204) => Initial::Done,
        (_, 202) => poll_or_resource(poll),
        (LroOperation::Delete | LroOperation::Post, _) => match poll {
            Some(p) => poll_or_resource(Some(p)),
            None => Initial::Done,
        },
        (LroOperation::Put | LroOperation::Patch, _) => match state {
            Some(ProvisioningState::Succeeded) => Initial::Done,
            Some(s @ (ProvisioningState::Failed | ProvisioningState::Canceled)) => Initial::Failed(s),
            Some(_) => poll_or_resource(poll),
            None if poll.is_some() => poll_or_resource(poll),
            None => Initial::Done,
        },
    }
}

/// What one poll response means (for successful HTTP exchanges; the client maps HTTP errors).
#[derive(Debug, Clone, PartialEq)]
pub enum PollStep {
    /// Still running; `new_url` replaces the status URL when the service sent one.
    Pending {
        /// Next wait.
        retry_after: Duration,
        /// Replacement poll URL.
        new_url: Option<String>,
    },
    /// Succeeded.
    Succeeded,
    /// Failed with this error.
    Failed(ArmErrorBody),
    /// Canceled.
    Canceled(Option<ArmErrorBody>),
}

/// Classifies a 2xx poll response.
pub fn analyse_poll(
    token: &LroToken,
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<&serde_json::Value>,
    policy: &LroPolicy,
    now: jiff::Timestamp,
) -> PollStep {
    let pending = |new_url: Option<String>| PollStep::Pending {
        retry_after: policy.next_wait(headers, now),
        new_url,
    };
    match token.url_kind {
        PollUrlKind::AzureAsyncOperation => {
            if status == StatusCode::ACCEPTED {
                return pending(None);
            }
            let st: OperationStatus = body
                .and_then(|b| serde_json::from_value(b.clone()).ok())
                .unwrap_or_default();
            if st.status.eq_ignore_ascii_case("Succeeded") {
                PollStep::Succeeded
            } else if st.status.eq_ignore_ascii_case("Failed") {
                PollStep::Failed(st.error.unwrap_or_else(|| ArmErrorBody {
                    code: "OperationFailed".into(),
                    message: format!("the {} operation reported status Failed without an error body", token.operation),
                    ..Default::default()
                }))
            } else if st.status.eq_ignore_ascii_case("Canceled") || st.status.eq_ignore_ascii_case("Cancelled") {
                PollStep::Canceled(st.error)
            } else {
                pending(None)
            }
        }
        PollUrlKind::Location => {
            if status == StatusCode::ACCEPTED {
                let new_url = header(headers, "location")
                    .filter(|u| *u != token.status_url)
                    .map(str::to_string);
                pending(new_url)
            } else {
                PollStep::Succeeded
            }
        }
        PollUrlKind::Resource => match body.and_then(body_provisioning_state) {
            // A DELETE polled through the resource ends with a 404, which the client maps.
            _ if token.operation == LroOperation::Delete => pending(None),
            Some(ProvisioningState::Succeeded) | None => PollStep::Succeeded,
            Some(ProvisioningState::Failed) => PollStep::Failed(ArmErrorBody {
                code: "ProvisioningFailed".into(),
                message: format!("{} reports provisioningState Failed", token.resource_id),
                ..Default::default()
            }),
            Some(ProvisioningState::Canceled) => PollStep::Canceled(None),
            Some(_) => pending(None),
        },
    }
}

/// The error for an operation that ended Failed.
pub fn failed(token: &LroToken, error: ArmErrorBody) -> ArmError {
    ArmError::from(ArmErrorKind::LroFailed {
        operation: token.operation,
        resource_id: token.resource_id.clone(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn now() -> jiff::Timestamp {
        "2024-05-01T00:00:00Z".parse().unwrap()
    }

    const RES: &str = "https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v?api-version=2024-05-01";

    fn token(kind: PollUrlKind, op: LroOperation) -> LroToken {
        LroToken {
            operation: op,
            resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v".parse().unwrap(),
            api_version: "2024-05-01".into(),
            status_url: "https://management.azure.com/op/1".into(),
            url_kind: kind,
            started_at: now(),
            tracked: false,
        }
    }

    #[test]
    fn initial_prefers_async_operation_then_location_then_resource() {
        let p = LroPolicy::default();
        let creating = json!({"properties": {"provisioningState": "Updating"}});
        let both = headers(&[("Azure-AsyncOperation", "https://m/aao"), ("Location", "https://m/loc"), ("Retry-After", "10")]);
        assert_eq!(
            analyse_initial(LroOperation::Put, StatusCode::CREATED, &both, Some(&creating), RES, &p, now()),
            Initial::Poll {
                url: "https://m/aao".into(),
                kind: PollUrlKind::AzureAsyncOperation,
                retry_after: Duration::from_secs(10),
                tracked: true
            }
        );
        let loc = headers(&[("Location", "https://m/loc")]);
        assert_eq!(
            analyse_initial(LroOperation::Put, StatusCode::ACCEPTED, &loc, None, RES, &p, now()),
            Initial::Poll {
                url: "https://m/loc".into(),
                kind: PollUrlKind::Location,
                retry_after: Duration::from_secs(30),
                tracked: false
            }
        );
        assert_eq!(
            analyse_initial(LroOperation::Put, StatusCode::CREATED, &HeaderMap::new(), Some(&creating), RES, &p, now()),
            Initial::Poll {
                url: RES.into(),
                kind: PollUrlKind::Resource,
                retry_after: Duration::from_secs(30),
                tracked: true
            }
        );
        let done = json!({"properties": {"provisioningState": "Succeeded"}});
        assert_eq!(
            analyse_initial(LroOperation::Put, StatusCode::OK, &both, Some(&done), RES, &p, now()),
            Initial::Done
        );
        assert_eq!(
            analyse_initial(LroOperation::Put, StatusCode::OK, &HeaderMap::new(), Some(&json!({})), RES, &p, now()),
            Initial::Done
        );
        let failed = json!({"properties": {"provisioningState": "Failed"}});
        assert_eq!(
            analyse_initial(LroOperation::Put, StatusCode::OK, &HeaderMap::new(), Some(&failed), RES, &p, now()),
            Initial::Failed(ProvisioningState::Failed)
        );
        assert_eq!(
            analyse_initial(LroOperation::Delete, StatusCode::NO_CONTENT, &HeaderMap::new(), None, RES, &p, now()),
            Initial::Done
        );
        assert!(matches!(
            analyse_initial(LroOperation::Delete, StatusCode::ACCEPTED, &both, None, RES, &p, now()),
            Initial::Poll { kind: PollUrlKind::AzureAsyncOperation, .. }
        ));
    }

    #[test]
    fn retry_after_is_clamped() {
        let p = LroPolicy::default();
        let creating = json!({"properties": {"provisioningState": "Creating"}});
        for (ra, want) in [("0", 1), ("5", 5), ("86400", 600)] {
            let h = headers(&[("Azure-AsyncOperation", "https://m/aao"), ("Retry-After", ra)]);
            match analyse_initial(LroOperation::Put, StatusCode::CREATED, &h, Some(&creating), RES, &p, now()) {
                Initial::Poll { retry_after, .. } => assert_eq!(retry_after, Duration::from_secs(want)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn poll_steps() {
        let p = LroPolicy::default();
        let t = token(PollUrlKind::AzureAsyncOperation, LroOperation::Put);
        let h = headers(&[("Retry-After", "3")]);
        assert_eq!(
            analyse_poll(&t, StatusCode::OK, &h, Some(&json!({"status": "InProgress"})), &p, now()),
            PollStep::Pending {
                retry_after: Duration::from_secs(3),
                new_url: None
            }
        );
        assert_eq!(
            analyse_poll(&t, StatusCode::OK, &h, Some(&json!({"status": "Succeeded"})), &p, now()),
            PollStep::Succeeded
        );
        let f = analyse_poll(
            &t,
            StatusCode::OK,
            &h,
            Some(&json!({"status": "Failed", "error": {"code": "SubnetOverlap", "message": "overlaps"}})),
            &p,
            now(),
        );
        assert_eq!(
            f,
            PollStep::Failed(ArmErrorBody {
                code: "SubnetOverlap".into(),
                message: "overlaps".into(),
                ..Default::default()
            })
        );
        assert!(matches!(
            analyse_poll(&t, StatusCode::OK, &h, Some(&json!({"status": "Failed"})), &p, now()),
            PollStep::Failed(e) if e.code == "OperationFailed"
        ));
        assert!(matches!(
            analyse_poll(&t, StatusCode::OK, &h, Some(&json!({"status": "Canceled"})), &p, now()),
            PollStep::Canceled(None)
        ));

        let l = token(PollUrlKind::Location, LroOperation::Delete);
        let moved = headers(&[("Location", "https://management.azure.com/op/2")]);
        assert_eq!(
            analyse_poll(&l, StatusCode::ACCEPTED, &moved, None, &p, now()),
            PollStep::Pending {
                retry_after: Duration::from_secs(30),
                new_url: Some("https://management.azure.com/op/2".into())
            }
        );
        assert_eq!(analyse_poll(&l, StatusCode::NO_CONTENT, &HeaderMap::new(), None, &p, now()), PollStep::Succeeded);

        let r = token(PollUrlKind::Resource, LroOperation::Put);
        assert!(matches!(
            analyse_poll(&r, StatusCode::OK, &h, Some(&json!({"properties": {"provisioningState": "Creating"}})), &p, now()),
            PollStep::Pending { .. }
        ));
        assert!(matches!(
            analyse_poll(&r, StatusCode::OK, &h, Some(&json!({"properties": {"provisioningState": "Failed"}})), &p, now()),
            PollStep::Failed(_)
        ));
    }

    #[test]
    fn token_round_trips_through_json() {
        let t = token(PollUrlKind::Location, LroOperation::Delete);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["operation"], "DELETE");
        assert_eq!(v["urlKind"], "location");
        assert_eq!(v["startedAt"], "2024-05-01T00:00:00Z");
        let back: LroToken = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
    }
}
