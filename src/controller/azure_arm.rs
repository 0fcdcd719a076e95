//! The real ARM access for the reconcilers: [`Arm`] over [`ArmClient`], and the
//! [`ArmProvider`] that picks credentials per object (its credentialRef's Secret, or moat's own
//! identity).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;

use super::arm::{Arm, ArmFailure, Changes, Polled, Started};
use super::context::ArmProvider;
use super::shared_reads::SharedReads;
use super::error::{Error, Result};
use crate::api::{PendingOperation, SecretRef};
use crate::azure::{
    ArmClient, ArmClientConfig, ArmError, AzureIdentityToken, CredentialConfig, LroOperation, LroToken, PollStatus,
    PollUrlKind, ResourceId, Secret as SecretValue, Submitted, TokenSource, api_versions,
};

/// [`Arm`] over the ARM client: JSON bodies, api-versions from the one table.
pub struct ClientArm {
    client: ArmClient,
}

impl ClientArm {
    pub fn new(client: ArmClient) -> Self {
        Self { client }
    }
}

fn failure(method: &str, id: &str, e: &ArmError) -> ArmFailure {
    ArmFailure {
        method: method.into(),
        id: id.into(),
        code: e.code().unwrap_or("RequestFailed").to_string(),
        message: e.stable_message(),
        retryable: e.is_retryable(),
        request_id: e.request_id().map(Box::from),
        maybe_applied: method != "GET" && e.may_have_been_applied(),
    }
}

fn parse(method: &str, id: &str) -> std::result::Result<ResourceId, ArmFailure> {
    ResourceId::parse(id).map_err(|e| ArmFailure {
        method: method.into(),
        id: id.into(),
        code: "InvalidResourceId".into(),
        message: e.to_string(),
        retryable: false,
        request_id: None,
        maybe_applied: false,
    })
}

fn kind_name(k: PollUrlKind) -> &'static str {
    match k {
        PollUrlKind::AzureAsyncOperation => "AzureAsyncOperation",
        PollUrlKind::Location => "Location",
        PollUrlKind::Resource => "Resource",
    }
}

fn pending(token: &LroToken) -> PendingOperation {
    PendingOperation {
        resource_id: token.resource_id.to_string(),
        method: token.operation.method().to_string(),
        poll_url: token.status_url.clone(),
        poll_kind: kind_name(token.url_kind).into(),
        started_at: token.started_at.to_string(),
    }
}

/// The client's token back from what status recorded.
fn token_of(op: &PendingOperation) -> std::result::Result<LroToken, ArmFailure> {
    let id = parse(&op.method, &op.resource_id)?;
    let bad = |what: &str| ArmFailure {
        method: op.method.clone(),
        id: op.resource_id.clone(),
        code: "InvalidRecordedOperation".into(),
        message: format!("status.operations holds an unusable {what}; the operation is dropped and the next reconcile decides afresh"),
        retryable: false,
        request_id: None,
        maybe_applied: false,
    };
    let operation = match op.method.as_str() {
        "PUT" => LroOperation::Put,
        "PATCH" => LroOperation::Patch,
        "DELETE" => LroOperation::Delete,
        "POST" => LroOperation::Post,
        _ => return Err(bad("method")),
    };
    let url_kind = match op.poll_kind.as_str() {
        "AzureAsyncOperation" => PollUrlKind::AzureAsyncOperation,
        "Location" => PollUrlKind::Location,
        "Resource" => PollUrlKind::Resource,
        _ => return Err(bad("poll kind")),
    };
    let api_version = api_versions::for_type(&id.resource_type()).ok_or_else(|| bad("resource type"))?.to_string();
    let started_at = op.started_at.parse().map_err(|_| bad("start time"))?;
    Ok(LroToken { operation, resource_id: id, api_version, status_url: op.poll_url.clone(), url_kind, started_at, tracked: false })
}

fn started(s: Submitted<Value>) -> Started {
    match s {
        Submitted::Done(v) => Started::Done(v),
        Submitted::Pending { token, retry_after } => Started::Pending(pending(&token), retry_after, token.tracked),
    }
}

#[async_trait]
impl Arm for ClientArm {
    async fn get(&self, id: &str) -> std::result::Result<Option<Value>, ArmFailure> {
        let rid = parse("GET", id)?;
        match self.client.get_json(&rid).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(failure("GET", id, &e)),
        }
    }

    async fn list(&self, collection_id: &str) -> std::result::Result<Vec<Value>, ArmFailure> {
        self.client.list_json(collection_id).await.map_err(|e| failure("GET", collection_id, &e))
    }

    async fn write(&self, method: &str, id: &str, body: &Value) -> std::result::Result<Started, ArmFailure> {
        let rid = parse(method, id)?;
        let op = if method == "PATCH" { LroOperation::Patch } else { LroOperation::Put };
        self.client.begin_write_json(op, &rid, Some(body)).await.map(started).map_err(|e| failure(method, id, &e))
    }

    fn can_create_only(&self, id: &str) -> bool {
        crate::azure::ResourceId::parse(id).is_ok_and(|rid| crate::azure::client::honours_conditions(&rid.resource_type()))
    }

    async fn create_only(&self, id: &str, body: &Value) -> std::result::Result<Option<Started>, ArmFailure> {
        let rid = parse("PUT", id)?;
        match self.client.begin_create_json(&rid, body).await {
            Ok(s) => Ok(Some(started(s))),
            Err(e) if e.is_precondition_failed() => Ok(None),
            Err(e) => Err(failure("PUT", id, &e)),
        }
    }

    async fn delete(&self, id: &str) -> std::result::Result<Started, ArmFailure> {
        let rid = parse("DELETE", id)?;
        match self.client.begin_delete(&rid).await {
            Ok(Submitted::Done(_)) => Ok(Started::Done(None)),
            Ok(Submitted::Pending { token, retry_after }) => Ok(Started::Pending(pending(&token), retry_after, false)),
            Err(e) if e.is_not_found() => Ok(Started::Done(None)),
            Err(e) => Err(failure("DELETE", id, &e)),
        }
    }

    async fn changes(&self, subscription: &str, resource_group: &str, since: jiff::Timestamp) -> std::result::Result<Changes, ArmFailure> {
        // Up to a minute ahead of this clock: an event ARM stamped a little ahead of it is kept.
        let as_of = jiff::Timestamp::now();
        let to = as_of + jiff::SignedDuration::from_secs(60);
        let scope = format!("/subscriptions/{subscription}/resourceGroups/{resource_group}");
        let events = self.client.activity_log(subscription, resource_group, since, to).await.map_err(|e| failure("GET", &scope, &e))?;
        Ok(Changes { events: std::sync::Arc::new(events), as_of })
    }

    async fn poll(&self, op: &PendingOperation) -> std::result::Result<Polled, ArmFailure> {
        self.poll_reading(op, true).await
    }

    async fn poll_status(&self, op: &PendingOperation) -> std::result::Result<Polled, ArmFailure> {
        self.poll_reading(op, false).await
    }
}

impl ClientArm {
    async fn poll_reading(&self, op: &PendingOperation, final_read: bool) -> std::result::Result<Polled, ArmFailure> {
        let token = token_of(op)?;
        let polled = if final_read { self.client.poll_once::<Value>(&token).await } else { self.client.poll_status_once::<Value>(&token).await };
        match polled {
            Ok(PollStatus::Pending { retry_after, .. }) => Ok(Polled::Running(retry_after)),
            Ok(PollStatus::Done(v)) => Ok(Polled::Done(v)),
            Ok(PollStatus::Failed(e)) => Err(ArmFailure { retryable: false, ..failure(&op.method, &op.resource_id, &e) }),
            Err(e) => Err(failure(&op.method, &op.resource_id, &e)),
        }
    }
}

/// (namespace, Secret name, resourceVersion).
type SecretKey = (String, String, String);

/// Credentials per object: moat's own identity by default, or a Secret named by credentialRef
/// (`tenantId`, `clientId`, and `clientSecret` or `federatedTokenFile`). Clients are cached per
/// Secret version, so a rotated Secret takes effect at the next reconcile.
pub struct AzureArmProvider {
    kube: kube::Client,
    config: ArmClientConfig,
    default: Arc<dyn Arm>,
    default_tenant: Option<String>,
    cache: Mutex<HashMap<SecretKey, Arc<dyn Arm>>>,
    /// How long a steady-state observe read may reuse another's answer (`SharedReads`).
    shared_max_age: Duration,
    /// How late ARM may publish an Activity Log event (`SharedReads::with_log_lag`).
    log_lag: Duration,
}

impl AzureArmProvider {
    /// Every credential's reconciles share their observe reads (`SharedReads`); at steady state
    /// an answer is reused for `shared_max_age` (half the resync period in `moat run`); ARM may
    /// publish an Activity Log event up to `log_lag` late (`--activity-log-lag-seconds`).
    pub fn new(kube: kube::Client, config: ArmClientConfig, own: Arc<dyn TokenSource>, default_tenant: Option<String>, shared_max_age: Duration, log_lag: Duration) -> Result<Self> {
        let client = ArmClient::new(config.clone(), own).map_err(|e| Error::Credentials(e.to_string()))?;
        let default = shared(client, &config, shared_max_age, log_lag);
        Ok(Self { kube, config, default, default_tenant, cache: Mutex::new(HashMap::new()), shared_max_age, log_lag })
    }
}

/// One credential's ARM access, its reads shared by its reconciles.
fn shared(client: ArmClient, config: &ArmClientConfig, shared_max_age: Duration, log_lag: Duration) -> Arc<dyn Arm> {
    Arc::new(SharedReads::new(Arc::new(ClientArm::new(client)), shared_max_age).with_log_lag(log_lag).with_observer(config.observer.clone()))
}

fn field(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[async_trait]
impl ArmProvider for AzureArmProvider {
    async fn arm_for(&self, namespace: &str, credential_ref: Option<&SecretRef>) -> Result<Arc<dyn Arm>> {
        let Some(r) = credential_ref else { return Ok(self.default.clone()) };
        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), namespace);
        let secret = secrets
            .get_opt(&r.name)
            .await
            .map_err(Error::kube(format!("read Secret {namespace}/{}", r.name)))?
            .ok_or_else(|| Error::Credentials(format!("Secret {namespace}/{} named by credentialRef does not exist", r.name)))?;
        let version = secret.metadata.resource_version.clone().unwrap_or_default();
        let key = (namespace.to_string(), r.name.clone(), version);
        if let Some(arm) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(arm);
        }
        let need = |k: &str| {
            field(&secret, k).ok_or_else(|| Error::Credentials(format!("Secret {namespace}/{} has no {k}: add it (see credentialRef)", r.name)))
        };
        let tenant_id = need("tenantId")?;
        let client_id = need("clientId")?;
        let (config, secret_value) = match (field(&secret, "clientSecret"), field(&secret, "federatedTokenFile")) {
            (Some(s), _) => (CredentialConfig::ClientSecret { tenant_id, client_id }, Some(SecretValue::new(s))),
            (None, Some(file)) => {
                (CredentialConfig::WorkloadIdentity { tenant_id: Some(tenant_id), client_id: Some(client_id), token_file: Some(file.into()) }, None)
            }
            (None, None) => {
                return Err(Error::Credentials(format!(
                    "Secret {namespace}/{} needs clientSecret or federatedTokenFile beside tenantId and clientId",
                    r.name
                )));
            }
        };
        let token = AzureIdentityToken::from_config_with_trust(&self.config.cloud, &config, secret_value, &self.config.trust)
            .map_err(|e| Error::Credentials(e.to_string()))?;
        let client = ArmClient::new(self.config.clone(), Arc::new(token)).map_err(|e| Error::Credentials(e.to_string()))?;
        let arm = shared(client, &self.config, self.shared_max_age, self.log_lag);
        if let Ok(mut c) = self.cache.lock() {
            c.retain(|(ns, name, _), _| !(ns == namespace && *name == r.name));
            c.insert(key, arm.clone());
        }
        Ok(arm)
    }

    fn default_tenant(&self) -> Option<String> {
        self.default_tenant.clone()
    }

    fn arm_endpoint(&self) -> url::Url {
        self.config.cloud.arm_endpoint()
    }
}
