//! The ARM operations the reconcilers use, as a trait: the real client implements it (see
//! `crate::azure`), and so can a test double. Bodies are JSON; api-versions are chosen by the
//! implementation from the resource type, in one place.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::api::PendingOperation;
use crate::azure::activity::ActivityEvent;

/// What the Activity Log holds for one resource group since a moment (`Arm::changes`).
#[derive(Clone, Debug, PartialEq)]
pub struct Changes {
    /// The events, in no promised order; they may include some stamped before the moment asked.
    pub events: std::sync::Arc<Vec<ActivityEvent>>,
    /// moat's clock when the query that gave them was sent: every event stamped at or after the
    /// moment asked that ARM had published by then is in.
    pub as_of: jiff::Timestamp,
}

impl Changes {
    /// `events`, as published when the query is sent now.
    #[cfg(test)]
    pub fn now(events: Vec<ActivityEvent>) -> Self {
        Self { events: std::sync::Arc::new(events), as_of: jiff::Timestamp::now() }
    }
}

/// An ARM failure as the reconcilers need it: the code and message ARM sent, and whether
/// retrying later can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{method} {id}: {code}: {message}")]
pub struct ArmFailure {
    pub method: String,
    pub id: String,
    /// ARM error code, e.g. `InUseSubnetCannotBeDeleted`, or the HTTP status for transport errors.
    pub code: String,
    /// What went wrong, the same text for the same failure (no request id: status conditions
    /// written from it do not change from one attempt to the next).
    pub message: String,
    /// True for throttling, 5xx, conflicts with another operation, transport errors.
    pub retryable: bool,
    /// `x-ms-request-id` of the failed request (for events and logs, never for status).
    pub request_id: Option<Box<str>>,
    /// The write may have been applied although it failed (5xx, timeout): read it back before
    /// writing again.
    pub maybe_applied: bool,
}

impl ArmFailure {
    /// A failure moat itself decided (no ARM request behind it).
    pub fn local(method: &str, id: &str, code: &str, message: impl Into<String>) -> Self {
        ArmFailure { method: method.into(), id: id.into(), code: code.into(), message: message.into(), retryable: false, request_id: None, maybe_applied: false }
    }

    /// True when ARM refused the write because another operation holds the resource or its parent.
    pub fn is_another_operation(&self) -> bool {
        self.code.eq_ignore_ascii_case("AnotherOperationInProgress") || self.code.eq_ignore_ascii_case("RetryableErrorDueToAnotherOperation")
    }
}

/// A write that ARM accepted.
#[derive(Debug, Clone)]
pub enum Started {
    /// Finished already; the body when there is one.
    Done(Option<Value>),
    /// Running; record it (so a restart resumes it) and poll it after the `Retry-After` ARM sent.
    /// The flag: the resource's own `provisioningState` shows the operation (`LroToken::tracked`),
    /// so the record may wait for the pass's next status write.
    Pending(PendingOperation, Duration, bool),
}

/// One poll of a running operation.
#[derive(Debug, Clone)]
pub enum Polled {
    /// Still running: poll again after this long.
    Running(Duration),
    /// Finished: the resource as a final GET returned it (None after a delete).
    Done(Option<Value>),
}

/// What an observe read returned, and whether it is an answer another read got earlier
/// (`super::shared_reads`) rather than one sent for this call.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<T> {
    pub value: T,
    pub reused: bool,
}

impl<T> Observed<T> {
    /// An answer ARM gave for this read (or a read in flight when it was asked).
    pub fn fresh(value: T) -> Self {
        Self { value, reused: false }
    }
}

#[async_trait]
pub trait Arm: Send + Sync {
    /// GET a resource; `Ok(None)` on 404.
    async fn get(&self, id: &str) -> Result<Option<Value>, ArmFailure>;
    /// GET a collection, following nextLink.
    async fn list(&self, collection_id: &str) -> Result<Vec<Value>, ArmFailure>;
    /// GET for an observe pass, which may share an answer with other reconciles
    /// (`super::shared_reads::SharedReads`). By default a plain [`Arm::get`].
    async fn get_shared(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        Ok(Observed::fresh(self.get(id).await?))
    }
    /// LIST for an observe pass, which may share an answer with other reconciles. By default a
    /// plain [`Arm::list`].
    async fn list_shared(&self, collection_id: &str) -> Result<Observed<Vec<Value>>, ArmFailure> {
        Ok(Observed::fresh(self.list(collection_id).await?))
    }
    /// GET of something a reconcile needs to exist but does not manage (the resource group it
    /// creates in, a binding's target and VNet): an answer that it exists may be one another
    /// reconcile got a few seconds ago, even while converging (`super::shared_reads`); one that
    /// it is absent is always asked of ARM. By default [`Arm::get_shared`].
    async fn get_lasting(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.get_shared(id).await
    }
    /// GET of shared infrastructure that many objects use and moat writes nothing to once it
    /// exists (a privatelink zone: `Mode::Shared`, nothing managed): an answer that it exists may
    /// be as old as a steady-state one (`super::shared_reads`), even for converging work, since no
    /// write is decided on its content; one that it is absent is always asked of ARM. By default
    /// [`Arm::get_lasting`].
    async fn get_infrastructure(&self, id: &str) -> Result<Observed<Option<Value>>, ArmFailure> {
        self.get_lasting(id).await
    }
    /// PUT or PATCH.
    async fn write(&self, method: &str, id: &str, body: &Value) -> Result<Started, ArmFailure>;
    /// Whether [`Arm::create_only`] can create `id` without ever writing over it: its provider
    /// honours `If-None-Match: *` (Private DNS). By default no.
    fn can_create_only(&self, _id: &str) -> bool {
        false
    }
    /// PUT that only creates (`If-None-Match: *`): `Ok(None)` when `id` exists after all (ARM
    /// answered 412), and nothing was written. Only where [`Arm::can_create_only`] says so.
    async fn create_only(&self, id: &str, _body: &Value) -> Result<Option<Started>, ArmFailure> {
        Err(ArmFailure::local("PUT", id, "CreateOnlyUnsupported", "this ARM access cannot send a create-only PUT"))
    }
    /// DELETE; `Done(None)` when it was already gone.
    async fn delete(&self, id: &str) -> Result<Started, ArmFailure>;
    /// Poll a running operation once.
    async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure>;
    /// [`Arm::poll`] for a caller that reads nothing of the resulting body: a PUT or PATCH that
    /// succeeded may end `Done(None)` without the final GET of the resource. By default a poll.
    async fn poll_status(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
        self.poll(op).await
    }
    /// Whether [`Arm::changes`] may ask for `resource_group`'s log: a tenancy scope that grants
    /// only some resources of the group (a target, an adopted VNet) does not open its log.
    fn may_read_changes(&self, _subscription: &str, _resource_group: &str) -> bool {
        true
    }
    /// The Activity Log's events of `resource_group` at or after `since`: what anyone wrote or
    /// deleted there (`crate::azure::activity`). The answer may be one another caller got a few
    /// seconds ago, or kept from earlier queries (`super::activity_feed`): its `as_of` says. By default unsupported: a caller then
    /// reads everything, as without a change feed.
    async fn changes(&self, subscription: &str, resource_group: &str, _since: jiff::Timestamp) -> Result<Changes, ArmFailure> {
        Err(ArmFailure::local(
            "GET",
            &format!("/subscriptions/{subscription}/resourceGroups/{resource_group}"),
            "ActivityLogUnsupported",
            "this ARM access cannot read the Activity Log",
        ))
    }
}
