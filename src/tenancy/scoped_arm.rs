//! [`ScopedArm`]: the [`Arm`] an object gets. Every request is checked against the object's
//! effective scope before it is sent; an out-of-scope request fails with code `OutOfScope` and
//! never reaches ARM. Polls must stay on the ARM endpoint and on a resource in scope.

use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

use super::scope::{EffectiveScope, Verb};
use crate::api::PendingOperation;
use crate::controller::arm::{Arm, ArmFailure, Changes, Observed, Polled, Started};

/// Code of the failure a refused request returns.
pub const OUT_OF_SCOPE: &str = "OutOfScope";

/// An [`Arm`] confined to one object's scope.
pub struct ScopedArm {
    inner: Arc<dyn Arm>,
    scope: EffectiveScope,
    /// The ARM endpoint polls must stay on.
    endpoint: url::Url,
}

impl ScopedArm {
    pub fn new(inner: Arc<dyn Arm>, scope: EffectiveScope, endpoint: url::Url) -> Self {
        Self { inner, scope, endpoint }
    }

    pub fn scope(&self) -> &EffectiveScope {
        &self.scope
    }

    fn guard(&self, method: &str, id: &str) -> Result<(), ArmFailure> {
        self.scope.check(Verb::of_method(method), id).map_err(|why| refused(method, id, why))
    }

    /// A poll URL is followed only on the ARM endpoint (same scheme, host and port), so the
    /// token is never sent elsewhere even when status.operations was edited.
    fn guard_poll(&self, op: &PendingOperation) -> Result<(), ArmFailure> {
        let url = self.endpoint.join(&op.poll_url).map_err(|e| refused("GET", &op.poll_url, format!("invalid poll URL: {e}")))?;
        let same = url.scheme() == self.endpoint.scheme()
            && url.host_str().map(str::to_ascii_lowercase) == self.endpoint.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == self.endpoint.port_or_known_default();
        if !same {
            return Err(refused("GET", &op.poll_url, format!("the poll URL is not on the ARM endpoint {}", self.endpoint)));
        }
        self.guard(&op.method, &op.resource_id)
    }
}

fn refused(method: &str, id: &str, why: String) -> ArmFailure {
    tracing::error!(%method, %id, reason = %why, "ARM request outside the object's scope refused before sending");
    ArmFailure {
        method: method.into(),
        id: id.into(),
        code: OUT_OF_SCOPE.into(),
        message: format!("{why}: moat did not send it"),
        retryable: false,
        request_id: None,
        maybe_applied: false,
    }
}

#[async_trait]
impl Arm for ScopedArm {
    async fn get(&self, id: &str) -> Result<Option<Value>, ArmFailure> {
        self.guard("GET", id)?;
        self.inner.get(id).await
    }

    async fn list(&self, collection_id: &str) -> Result<Vec<Value>, ArmFailure> {
        self.guard("GET", collection_id)?;
        self.inner.list(collection_id).await
    }

    async fn get_shared(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.guard("GET", id)?;
        self.inner.get_shared(id).await
    }

    async fn list_shared(&self, collection_id: &str) -> Result<Observed<Vec<Value>>, ArmFailure> {
        self.guard("GET", collection_id)?;
        self.inner.list_shared(collection_id).await
    }

    async fn get_lasting(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.guard("GET", id)?;
        self.inner.get_lasting(id).await
    }

    async fn get_infrastructure(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.guard("GET", id)?;
        self.inner.get_infrastructure(id).await
    }

    async fn write(&self, method: &str, id: &str, body: &Value) -> Result<Started, ArmFailure> {
        self.guard(method, id)?;
        self.inner.write(method, id, body).await
    }

    fn can_create_only(&self, id: &str) -> bool {
        self.inner.can_create_only(id)
    }

    async fn create_only(&self, id: &str, body: &Value) -> Result<Option<Started>, ArmFailure> {
        self.guard("PUT", id)?;
        self.inner.create_only(id, body).await
    }

    async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
        self.guard("DELETE", id)?;
        self.inner.delete(id).await
    }

    async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
        self.guard_poll(op)?;
        self.inner.poll(op).await
    }

    async fn poll_status(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
        self.guard_poll(op)?;
        self.inner.poll_status(op).await
    }

    fn may_read_changes(&self, subscription: &str, resource_group: &str) -> bool {
        self.scope.check(Verb::Read, &format!("/subscriptions/{subscription}/resourceGroups/{resource_group}")).is_ok() && self.inner.may_read_changes(subscription, resource_group)
    }

    async fn changes(&self, subscription: &str, resource_group: &str, since: jiff::Timestamp) -> Result<Changes, ArmFailure> {
        // A read of the resource group's own log: only where the object may read.
        self.guard("GET", &format!("/subscriptions/{subscription}/resourceGroups/{resource_group}"))?;
        self.inner.changes(subscription, resource_group, since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::scope::Access;
    use std::sync::Mutex;

    /// Records what reaches it.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl Arm for Recorder {
        async fn get(&self, id: &str) -> Result<Option<Value>, ArmFailure> {
            self.0.lock().expect("lock").push(format!("GET {id}"));
            Ok(None)
        }
        async fn list(&self, id: &str) -> Result<Vec<Value>, ArmFailure> {
            self.0.lock().expect("lock").push(format!("LIST {id}"));
            Ok(vec![])
        }
        async fn write(&self, method: &str, id: &str, _: &Value) -> Result<Started, ArmFailure> {
            self.0.lock().expect("lock").push(format!("{method} {id}"));
            Ok(Started::Done(None))
        }
        async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
            self.0.lock().expect("lock").push(format!("DELETE {id}"));
            Ok(Started::Done(None))
        }
        async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
            self.0.lock().expect("lock").push(format!("POLL {}", op.poll_url));
            Ok(Polled::Done(None))
        }
    }

    const RG: &str = "/subscriptions/s/resourceGroups/rg-a";
    const OTHER: &str = "/subscriptions/s/resourceGroups/rg-b/providers/Microsoft.Network/networkSecurityGroups/n";

    fn op(url: &str, id: &str) -> PendingOperation {
        PendingOperation { resource_id: id.into(), method: "PUT".into(), poll_url: url.into(), poll_kind: "AzureAsyncOperation".into(), started_at: "2026-01-01T00:00:00Z".into() }
    }

    #[tokio::test]
    async fn out_of_scope_requests_never_reach_arm() {
        let rec = Arc::new(Recorder::default());
        let endpoint = url::Url::parse("https://management.azure.com/").expect("url");
        let arm = ScopedArm::new(rec.clone(), EffectiveScope::new([(RG.to_string(), Access::Full, "spec.resourceGroup".to_string())]), endpoint);
        let mine = format!("{RG}/providers/Microsoft.Network/virtualNetworks/v");
        assert!(arm.get(&mine).await.is_ok());
        assert!(arm.write("PUT", &mine, &Value::Null).await.is_ok());

        for e in [
            arm.get(OTHER).await.err(),
            arm.get_shared(OTHER).await.err(),
            arm.get_lasting(OTHER).await.err(),
            arm.get_infrastructure(OTHER).await.err(),
            arm.list(&format!("{OTHER}/securityRules")).await.err(),
            arm.write("PUT", &format!("{OTHER}/securityRules/moat-ssh"), &Value::Null).await.err(),
            arm.write("PATCH", OTHER, &Value::Null).await.err(),
            arm.delete(OTHER).await.err(),
            arm.poll(&op("https://evil.example/op/1", &mine)).await.err(),
            arm.poll(&op("https://management.azure.com/op/1", OTHER)).await.err(),
        ] {
            let e = e.expect("refused");
            assert_eq!(e.code, OUT_OF_SCOPE);
            assert!(!e.retryable);
        }
        assert!(arm.poll(&op("https://management.azure.com/subscriptions/s/providers/Microsoft.Network/locations/w/operations/1", &mine)).await.is_ok());
        let sent = rec.0.lock().expect("lock").clone();
        assert_eq!(sent.len(), 3, "only the in-scope requests were sent: {sent:?}");
        assert!(sent.iter().all(|s| !s.contains("rg-b") && !s.contains("evil")), "{sent:?}");
    }
}
