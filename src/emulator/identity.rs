//! Who a request comes from, and the managed-identity token endpoint that hands out identities.
//!
//! **Managed-identity endpoint** (App Service MSI protocol, what `IDENTITY_ENDPOINT` /
//! `IDENTITY_HEADER` point a client at): `GET /msi/token?resource=<audience>&api-version=2019-08-01`
//! with the header `X-IDENTITY-HEADER: <identity header>`; `client_id`, `object_id`,
//! `principal_id` or `mi_res_id` select a user-assigned identity (any value names one; the
//! system-assigned identity otherwise). The answer is
//! `{"access_token", "expires_on" (Unix seconds, as a string), "expires_in", "resource",
//! "token_type": "Bearer", "client_id"}`. Errors: 401 without the right header, 400 for a
//! missing `resource` or another api-version.
//!
//! **Principals.** ARM meters requests per principal: a token the endpoint issued belongs to its
//! identity (its principal id); any other accepted token is its own principal, named by a hash
//! of it (a token never appears in a message or a log); no token at all is `anonymous`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Emulator;

/// Path of the managed-identity token endpoint.
pub const MSI_PATH: &str = "/msi/token";
/// The App Service protocol version the endpoint speaks.
pub const MSI_API_VERSION: &str = "2019-08-01";
/// Default value of the `X-IDENTITY-HEADER` secret (`IDENTITY_HEADER` for clients).
pub const DEFAULT_IDENTITY_HEADER: &str = "moat-emulator-identity-header";
/// Lifetime of issued tokens.
pub const TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// An identity the endpoint has issued tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentity {
    /// `system` or the selector the client sent (`client_id=…`).
    pub name: String,
    pub client_id: String,
    /// The object (principal) id ARM meters it by.
    pub principal_id: String,
    pub tokens_issued: u64,
}

#[derive(Debug, Clone)]
struct Issued {
    identity: String,
    expires_on: i64,
}

/// Issued tokens and their identities.
#[derive(Debug, Default)]
pub struct Identities {
    by_name: HashMap<String, ManagedIdentity>,
    tokens: HashMap<String, Issued>,
}

/// Whom a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// A token this emulator's identity endpoint issued.
    Managed { principal_id: String },
    /// Any other token; `id` is a hash of it.
    Token { id: String },
}

impl Principal {
    /// The name ARM's meters and throttling messages use.
    pub fn id(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Managed { principal_id } => principal_id,
            Principal::Token { id } => id,
        }
    }
}

/// A stable, non-reversible name for a token: `token-<16 hex digits>`.
pub fn token_principal(token: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    format!("token-{:016x}", h.finish())
}

impl Identities {
    /// Issues a token for the identity selected by the query.
    fn issue(&mut self, selector: Option<(&str, &str)>, now: i64) -> (String, ManagedIdentity, i64) {
        let name = match selector {
            None => "system".to_string(),
            Some((k, v)) => format!("{k}={v}"),
        };
        let id = self.by_name.entry(name.clone()).or_insert_with(|| ManagedIdentity {
            name: name.clone(),
            client_id: match selector {
                Some(("client_id", v)) => v.to_string(),
                _ => uuid::Uuid::new_v4().to_string(),
            },
            principal_id: match selector {
                Some(("object_id" | "principal_id", v)) => v.to_string(),
                _ => uuid::Uuid::new_v4().to_string(),
            },
            tokens_issued: 0,
        });
        id.tokens_issued += 1;
        let token = format!("emu-mi-{}", uuid::Uuid::new_v4().simple());
        let expires_on = now + TOKEN_LIFETIME_SECS;
        self.tokens.insert(token.clone(), Issued { identity: name, expires_on });
        (token, id.clone(), expires_on)
    }

    /// The identity of an issued token: `Some(Ok)` if valid, `Some(Err)` if expired, `None` if
    /// this endpoint never issued it.
    pub fn lookup(&self, token: &str, now: i64) -> Option<Result<&ManagedIdentity, ()>> {
        let issued = self.tokens.get(token)?;
        let id = self.by_name.get(&issued.identity)?;
        Some(if issued.expires_on > now { Ok(id) } else { Err(()) })
    }

    /// Every identity tokens were issued for.
    pub fn list(&self) -> Vec<ManagedIdentity> {
        let mut v: Vec<ManagedIdentity> = self.by_name.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn tokens_issued(&self) -> u64 {
        self.by_name.values().map(|i| i.tokens_issued).sum()
    }
}

/// An answer of the token endpoint: status and JSON body.
pub struct MsiAnswer {
    pub status: u16,
    pub body: Value,
}

fn msi_error(status: u16, error: &str, description: String) -> MsiAnswer {
    MsiAnswer { status, body: json!({"error": error, "error_description": description}) }
}

/// Serves one token request (`query` lower-cased keys).
pub fn token_request(ids: &mut Identities, expected_header: &str, headers: &HeaderMap, query: &HashMap<String, String>, now: i64) -> MsiAnswer {
    let given = headers.get("x-identity-header").and_then(|v| v.to_str().ok());
    if given != Some(expected_header) {
        return msi_error(
            401,
            "invalid_request",
            "The X-IDENTITY-HEADER header is missing or wrong: send the value of IDENTITY_HEADER (the emulator's --identity-header).".into(),
        );
    }
    match query.get("api-version").map(String::as_str) {
        Some(MSI_API_VERSION) => {}
        other => {
            return msi_error(
                400,
                "invalid_request",
                format!("api-version must be {MSI_API_VERSION} (the App Service managed-identity protocol), got {other:?}"),
            );
        }
    }
    let Some(resource) = query.get("resource").filter(|r| !r.trim().is_empty()) else {
        return msi_error(400, "invalid_request", "the resource query parameter (the token audience, e.g. https://management.azure.com) is required".into());
    };
    let selector = ["client_id", "object_id", "principal_id", "mi_res_id"]
        .into_iter()
        .find_map(|k| query.get(k).filter(|v| !v.is_empty()).map(|v| (k, v.as_str())));
    let (token, id, expires_on) = ids.issue(selector, now);
    tracing::debug!(identity = %id.name, principal = %id.principal_id, "managed-identity token issued");
    MsiAnswer {
        status: 200,
        body: json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "expires_in": TOKEN_LIFETIME_SECS.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": id.client_id,
        }),
    }
}

/// `GET /msi/token`: the managed-identity endpoint (not an ARM request: no limits, not logged).
pub(crate) async fn msi_handler(AxState(emu): AxState<Emulator>, headers: HeaderMap, uri: Uri) -> Response {
    let query: HashMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    let now = jiff::Timestamp::now().as_second();
    let answer = emu.with_state(|st| {
        let expected = st.cfg.identity_header.clone();
        token_request(&mut st.identities, &expected, &headers, &query, now)
    });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(answer.body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn issues_tokens_per_identity_and_checks_the_request() {
        let mut ids = Identities::default();
        let mut h = HeaderMap::new();
        let base = q(&[("api-version", MSI_API_VERSION), ("resource", "https://management.azure.com")]);
        assert_eq!(token_request(&mut ids, "s", &h, &base, 0).status, 401);
        h.insert("x-identity-header", "s".parse().unwrap());
        assert_eq!(token_request(&mut ids, "s", &h, &q(&[("resource", "r")]), 0).status, 400);
        assert_eq!(token_request(&mut ids, "s", &h, &q(&[("api-version", MSI_API_VERSION)]), 0).status, 400);
        let a = token_request(&mut ids, "s", &h, &base, 100);
        assert_eq!(a.status, 200);
        assert_eq!(a.body["expires_on"], json!((100 + TOKEN_LIFETIME_SECS).to_string()));
        assert_eq!(a.body["token_type"], "Bearer");
        let mut user = base.clone();
        user.insert("client_id".into(), "c-1".into());
        let b = token_request(&mut ids, "s", &h, &user, 100);
        assert_eq!(b.body["client_id"], "c-1");
        let ta = a.body["access_token"].as_str().unwrap();
        let tb = b.body["access_token"].as_str().unwrap();
        let pa = ids.lookup(ta, 200).unwrap().unwrap().principal_id.clone();
        let pb = ids.lookup(tb, 200).unwrap().unwrap().principal_id.clone();
        assert_ne!(pa, pb, "two identities, two principals");
        assert!(ids.lookup(ta, 100 + TOKEN_LIFETIME_SECS).unwrap().is_err(), "expired");
        assert!(ids.lookup("other", 0).is_none());
        assert_eq!(ids.tokens_issued(), 2);
        assert!(!token_principal("s3cret").contains("s3cret"));
        assert_eq!(token_principal("a"), token_principal("a"));
    }
}
