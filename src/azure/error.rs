//! ARM errors, with the service's error body kept intact (azure-arm-facts.md §4.2).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::id::{ResourceId, ResourceIdError};
use super::lro::{LroOperation, LroToken};

/// The OData-style ARM error body: `{"error": {"code", "message", "target", "details": [...]}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmErrorBody {
    /// PascalCase error code, e.g. `AnotherOperationInProgress`.
    #[serde(default, alias = "Code")]
    pub code: String,
    /// Human-readable message.
    #[serde(default, alias = "Message")]
    pub message: String,
    /// The target of the error, if the service names one.
    #[serde(default, alias = "Target", skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Nested errors.
    #[serde(default, alias = "Details", deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ArmErrorBody>,
    /// `additionalInfo` entries (policy violations etc.), kept verbatim.
    #[serde(
        default,
        rename = "additionalInfo",
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_info: Vec<serde_json::Value>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl ArmErrorBody {
    /// Parses an error body. Accepts the wrapped form `{"error": {...}}` and the bare form
    /// `{"code": ..., "message": ...}`. Returns `None` if neither has a code or message.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        Self::from_value(&v)
    }

    /// As [`Self::parse`], from a JSON value.
    pub fn from_value(v: &serde_json::Value) -> Option<Self> {
        let inner = v
            .get("error")
            .or_else(|| v.get("Error"))
            .filter(|e| e.is_object())
            .unwrap_or(v);
        let parsed: ArmErrorBody = serde_json::from_value(inner.clone()).ok()?;
        (!parsed.code.is_empty() || !parsed.message.is_empty()).then_some(parsed)
    }

    /// True when this error or any nested detail has `code` (case-insensitive).
    pub fn has_code(&self, code: &str) -> bool {
        self.code.eq_ignore_ascii_case(code) || self.details.iter().any(|d| d.has_code(code))
    }
}

impl fmt::Display for ArmErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = if self.code.is_empty() { "(no code)" } else { &self.code };
        write!(f, "{code}: {}", self.message)?;
        if let Some(t) = &self.target {
            write!(f, " (target: {t})")?;
        }
        if !self.details.is_empty() {
            f.write_str(" [details: ")?;
            for (i, d) in self.details.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{d}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// Error codes that mean "try again later" even though the HTTP status is 4xx.
pub const RETRYABLE_CODES: &[&str] = &["AnotherOperationInProgress", "RetryableErrorDueToAnotherOperation"];

/// An ARM client error. Boxed (one pointer wide); inspect it with [`ArmError::kind`] or the
/// helpers ([`ArmError::is_not_found`], [`ArmError::code`], [`ArmError::is_retryable`], ...).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ArmError(Box<ArmErrorKind>);

impl From<ArmErrorKind> for ArmError {
    fn from(k: ArmErrorKind) -> Self {
        Self(Box::new(k))
    }
}

impl From<ResourceIdError> for ArmError {
    fn from(e: ResourceIdError) -> Self {
        ArmErrorKind::InvalidId(e).into()
    }
}

/// Everything the ARM client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ArmErrorKind {
    /// ARM answered with an error status. The parsed body is kept, never swallowed.
    #[error("{method} {url} returned HTTP {status}: {}{}", describe(error, body_excerpt), request_id.as_deref().map(|r| format!(" (x-ms-request-id {r})")).unwrap_or_default())]
    Http {
        /// Request method.
        method: http::Method,
        /// Request URL (no secrets: ARM URLs carry only the api-version).
        url: String,
        /// HTTP status.
        status: u16,
        /// Parsed ARM error body, if the body was one.
        error: Option<ArmErrorBody>,
        /// The start of a body that was not an ARM error body.
        body_excerpt: Option<String>,
        /// `x-ms-request-id` of the failed request.
        request_id: Option<String>,
        /// `Retry-After` sent with the error, if any.
        retry_after: Option<Duration>,
    },
    /// A long-running operation finished with status `Failed`.
    #[error("{operation} of {resource_id} failed: {error}")]
    LroFailed {
        /// PUT, PATCH, DELETE or POST.
        operation: LroOperation,
        /// The resource the operation was on.
        resource_id: ResourceId,
        /// The operation's error (from the status resource or the final response).
        error: ArmErrorBody,
    },
    /// A long-running operation finished with status `Canceled`.
    #[error("{operation} of {resource_id} was canceled{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    LroCanceled {
        /// PUT, PATCH, DELETE or POST.
        operation: LroOperation,
        /// The resource the operation was on.
        resource_id: ResourceId,
        /// Error body, if the service gave one.
        error: Option<ArmErrorBody>,
    },
    /// Waiting for a long-running operation exceeded the configured limit. The token can be
    /// stored and the wait resumed later.
    #[error("{} of {} still running after {waited:?}; resume it from the saved token", token.operation, token.resource_id)]
    LroTimeout {
        /// Where to resume.
        token: Box<LroToken>,
        /// How long the client waited.
        waited: Duration,
    },
    /// The request could not be sent or the response could not be read.
    #[error("{method} {url}: transport error: {source}")]
    Transport {
        /// Request method.
        method: http::Method,
        /// Request URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx body did not match the expected model.
    #[error("could not decode {what} from {url}: {source}; body starts with: {excerpt}")]
    Decode {
        /// What was being decoded (a type name).
        what: String,
        /// Where it came from.
        url: String,
        /// The start of the body.
        excerpt: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A malformed resource id.
    #[error(transparent)]
    InvalidId(ResourceIdError),
    /// The token source failed.
    #[error("could not get an ARM access token: {message}")]
    Auth {
        /// What failed (never contains the token).
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A URL from a response or a saved token points outside the configured ARM endpoint; the
    /// client refuses to send its bearer token there.
    #[error("refusing to call {url}: not on the configured ARM endpoint {expected}")]
    UntrustedUrl {
        /// The URL that was refused.
        url: String,
        /// The configured endpoint.
        expected: String,
    },
    /// ARM answered in a way the protocol does not allow (e.g. a 202 without a poll URL).
    #[error("unexpected ARM response: {0}")]
    Protocol(String),
    /// The client was configured or used wrongly.
    #[error("ARM client configuration: {0}")]
    Config(String),
}

fn describe(error: &Option<ArmErrorBody>, excerpt: &Option<String>) -> String {
    match (error, excerpt) {
        (Some(e), _) => e.to_string(),
        (None, Some(x)) if !x.is_empty() => format!("(no ARM error body) {x}"),
        _ => "(empty body)".to_string(),
    }
}

/// Maximum number of body characters kept in errors.
pub const EXCERPT_CHARS: usize = 512;

/// The first [`EXCERPT_CHARS`] characters of a body, lossily decoded.
pub fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let mut out: String = s.chars().take(EXCERPT_CHARS).collect();
    if s.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

impl ArmError {
    /// What went wrong.
    pub fn kind(&self) -> &ArmErrorKind {
        &self.0
    }

    /// Unwraps the kind.
    pub fn into_kind(self) -> ArmErrorKind {
        *self.0
    }

    /// A configuration / usage error.
    pub fn config(msg: impl Into<String>) -> Self {
        ArmErrorKind::Config(msg.into()).into()
    }

    /// A protocol violation by the server.
    pub fn protocol(msg: impl Into<String>) -> Self {
        ArmErrorKind::Protocol(msg.into()).into()
    }

    /// The HTTP status, if ARM answered.
    pub fn status(&self) -> Option<u16> {
        match self.kind() {
            ArmErrorKind::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The ARM error body, if there is one.
    pub fn body(&self) -> Option<&ArmErrorBody> {
        match self.kind() {
            ArmErrorKind::Http { error, .. } => error.as_ref(),
            ArmErrorKind::LroFailed { error, .. } => Some(error),
            ArmErrorKind::LroCanceled { error, .. } => error.as_ref(),
            _ => None,
        }
    }

    /// The top-level ARM error code (`ResourceNotFound`, `InUseSubnetCannotBeDeleted`, ...).
    pub fn code(&self) -> Option<&str> {
        self.body().map(|b| b.code.as_str()).filter(|c| !c.is_empty())
    }

    /// True for 404 (the resource, its parent or its resource group does not exist).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True for 409 Conflict.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// True for 412 Precondition Failed (an `If-Match` / `If-None-Match` did not hold).
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    /// True when the operation itself failed or was canceled (as opposed to a request error).
    pub fn is_operation_failure(&self) -> bool {
        matches!(self.kind(), ArmErrorKind::LroFailed { .. } | ArmErrorKind::LroCanceled { .. })
    }

    /// The saved token of a wait that timed out, to store and resume later.
    pub fn lro_token(&self) -> Option<&LroToken> {
        match self.kind() {
            ArmErrorKind::LroTimeout { token, .. } => Some(token),
            _ => None,
        }
    }

    /// The error without what changes from one attempt to the next (request ids, URLs): a status
    /// condition keeps the same text for the same failure, so writing it again changes nothing.
    /// The request id goes to events and logs ([`ArmError::request_id`]).
    pub fn stable_message(&self) -> String {
        match self.kind() {
            ArmErrorKind::Http { status, error, body_excerpt, .. } => format!("HTTP {status}: {}", describe(error, body_excerpt)),
            ArmErrorKind::LroFailed { operation, error, .. } => format!("{operation} failed: {error}"),
            ArmErrorKind::LroCanceled { operation, error, .. } => {
                format!("{operation} was canceled{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())
            }
            ArmErrorKind::Transport { source, .. } => format!("transport error: {source}"),
            _ => self.to_string(),
        }
    }

    /// The `x-ms-request-id` of the failed request, when ARM answered.
    pub fn request_id(&self) -> Option<&str> {
        match self.kind() {
            ArmErrorKind::Http { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed: 408, 429, 5xx (except 501/505),
    /// `AnotherOperationInProgress` / `RetryableErrorDueToAnotherOperation`, any error carrying
    /// `Retry-After`, and transport failures (azure-arm-facts.md §4.2, §6).
    /// True when a write that failed this way may still have been applied: ARM (or a gateway)
    /// answered 408 or 5xx, or the answer never came. Retrying such a write blindly meets ARM's
    /// own operation (409 `AnotherOperationInProgress`); read the resource back instead.
    pub fn may_have_been_applied(&self) -> bool {
        match self.kind() {
            ArmErrorKind::Http { status, .. } => *status == 408 || (*status >= 500 && !matches!(*status, 501 | 505)),
            ArmErrorKind::Transport { .. } => true,
            _ => false,
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self.kind() {
            ArmErrorKind::Http {
                status,
                error,
                retry_after,
                ..
            } => {
                matches!(*status, 408 | 429)
                    || (*status >= 500 && !matches!(*status, 501 | 505))
                    || error
                        .as_ref()
                        .is_some_and(|e| RETRYABLE_CODES.iter().any(|c| e.has_code(c)))
                    || retry_after.is_some()
            }
            ArmErrorKind::Transport { source, .. } => !source.is_builder(),
            _ => false,
        }
    }

    /// `Retry-After` sent with an HTTP error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind() {
            ArmErrorKind::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Result alias for the ARM client.
pub type Result<T, E = ArmError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str, retry_after: Option<u64>) -> ArmError {
        ArmErrorKind::Http {
            method: http::Method::PUT,
            url: "https://management.azure.com/x".into(),
            status,
            error: ArmErrorBody::parse(body.as_bytes()),
            body_excerpt: Some(excerpt(body.as_bytes())),
            request_id: Some("req-1".into()),
            retry_after: retry_after.map(Duration::from_secs),
        }
        .into()
    }

    #[test]
    fn parses_wrapped_bare_and_nested_bodies() {
        let b = ArmErrorBody::parse(
            br#"{"error":{"code":"InUseSubnetCannotBeDeleted","message":"Subnet snet is in use","target":"snet",
                "details":[{"code":"Inner","message":"why"}],"additionalInfo":[{"type":"PolicyViolation","info":{}}]}}"#,
        )
        .unwrap();
        assert_eq!(b.code, "InUseSubnetCannotBeDeleted");
        assert_eq!(b.target.as_deref(), Some("snet"));
        assert_eq!(b.details.len(), 1);
        assert!(b.has_code("inner"));
        assert_eq!(b.additional_info.len(), 1);
        let s = b.to_string();
        assert!(s.contains("InUseSubnetCannotBeDeleted: Subnet snet is in use (target: snet) [details: Inner: why]"), "{s}");

        let bare = ArmErrorBody::parse(br#"{"code":"ResourceNotFound","message":"gone","details":null}"#).unwrap();
        assert_eq!(bare.code, "ResourceNotFound");
        let pascal = ArmErrorBody::parse(br#"{"Code":"Conflict","Message":"busy"}"#).unwrap();
        assert_eq!(pascal.message, "busy");
        assert!(ArmErrorBody::parse(b"<html>bad gateway</html>").is_none());
        assert!(ArmErrorBody::parse(br#"{"value":[]}"#).is_none());
    }

    #[test]
    fn classification_helpers() {
        let e = http(404, r#"{"error":{"code":"ResourceNotFound","message":"nope"}}"#, None);
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        assert_eq!(e.code(), Some("ResourceNotFound"));
        let msg = e.to_string();
        assert!(msg.contains("HTTP 404") && msg.contains("ResourceNotFound: nope") && msg.contains("req-1"), "{msg}");

        for (status, body, ra, retry) in [
            (429, "", None, true),
            (408, "", None, true),
            (500, "", None, true),
            (503, "", None, true),
            (501, "", None, false),
            (400, r#"{"error":{"code":"InvalidRequest","message":"x"}}"#, None, false),
            (409, r#"{"error":{"code":"AnotherOperationInProgress","message":"x"}}"#, None, true),
            (409, r#"{"error":{"code":"Conflict","message":"x"}}"#, None, false),
            (400, r#"{"error":{"code":"Outer","message":"x","details":[{"code":"AnotherOperationInProgress","message":"y"}]}}"#, None, true),
            (409, r#"{"error":{"code":"Conflict","message":"x"}}"#, Some(5), true),
        ] {
            assert_eq!(http(status, body, ra).is_retryable(), retry, "{status} {body} {ra:?}");
        }
        let raw = http(502, "<html>bad gateway</html>", None);
        assert!(raw.to_string().contains("(no ARM error body) <html>bad gateway</html>"), "{raw}");
    }
}
