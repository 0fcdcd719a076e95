//! ARM error bodies: `{"error":{"code","message","target"?,"details":[]}}`.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// An error answered the way ARM answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<u64>,
    /// Extra response headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
}

impl ArmError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ArmError {
            status,
            code: code.into(),
            message: message.into(),
            target: None,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// The error object (the value of `"error"`), as in an async-operation status resource.
    pub fn error_object(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message, "details": []});
        if let (Some(t), Some(obj)) = (&self.target, e.as_object_mut()) {
            obj.insert("target".into(), Value::String(t.clone()));
        }
        e
    }

    /// The full body `{"error": {...}}`.
    pub fn body(&self) -> Value {
        json!({ "error": self.error_object() })
    }

    /// 400 `InvalidRequestContent`, ARM's answer to a body it cannot deserialize.
    pub fn invalid_content(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    /// 400 `InvalidRequestFormat`, the Network RP's answer to a value it cannot parse.
    pub fn invalid_format(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "InvalidRequestFormat",
            format!("Cannot parse the request. {detail}"),
        )
    }

    pub fn resource_group_not_found(rg: &str) -> Self {
        Self::not_found(
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    /// 404 `ResourceNotFound` for a top-level resource (`type` like `Microsoft.Network/virtualNetworks`).
    pub fn resource_not_found(rtype: &str, name: &str, rg: &str) -> Self {
        Self::not_found(
            "ResourceNotFound",
            format!(
                "The Resource '{rtype}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    pub fn invalid_resource_reference(referenced: &str, referencing: &str) -> Self {
        Self::bad_request(
            "InvalidResourceReference",
            format!(
                "Resource {referenced} referenced by resource {referencing} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
            ),
        )
    }
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ArmError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let e = ArmError::bad_request("X", "y").with_target("t");
        assert_eq!(
            e.body(),
            json!({"error": {"code": "X", "message": "y", "target": "t", "details": []}})
        );
    }
}
