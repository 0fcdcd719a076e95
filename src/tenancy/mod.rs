//! Tenancy: no namespace can make moat touch what it should not.
//!
//! Before any ARM request for an object, [`arm_for`]:
//! 1. lists every Azure scope the object's spec names or implies, with its field and how moat
//!    uses it ([`inventory`], pure);
//! 2. checks each against what the `AzureScopePolicy` objects selecting the object's namespace
//!    grant, capped by `--allowed-subscriptions`, and picks the object's credentials
//!    ([`grant`], pure);
//! 3. returns the object's ARM access wrapped in a [`ScopedArm`], which refuses any request
//!    outside that scope before it is sent ([`scope`]).
//!
//! A refusal comes back as a [`Refusal`] for the object's `Ready` condition (reason
//! `OutOfScope`, naming the field, the id and the fix), and no ARM request is made.

pub mod grant;
pub mod inventory;
pub mod scope;
pub mod scoped_arm;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

pub use grant::{Credential, Decision, Grant, Refusal, decide, grant_for};
pub use inventory::{Named, Subject, Usage};
pub use scope::{Access, EffectiveScope, Verb};
pub use scoped_arm::{OUT_OF_SCOPE, ScopedArm};
pub use watch::{NoPolicies, PolicySource, View, WatchedPolicies};

use crate::api::SecretRef;
use crate::controller::Context;
use crate::controller::arm::Arm;
use crate::controller::conditions::ReadyReason;

impl Refusal {
    /// When to look again: an out-of-scope object waits for its spec or a policy to change
    /// (both wake it at once), anything else retries soon.
    pub fn requeue(&self, resync: Duration, retry: Duration) -> Duration {
        if self.reason == ReadyReason::OutOfScope { resync } else { retry }
    }

    /// The message while a deletion is held back: moat never touches what is out of scope, so
    /// what it created stays until the scope is granted again or the finalizer is removed.
    pub fn deletion_message(&self) -> String {
        format!(
            "deletion held back, nothing in Azure was touched: {}. Once the object is in scope again moat deletes what it created; to leave the Azure resources as they are instead, remove the finalizer {}",
            self.message,
            crate::controller::context::FINALIZER
        )
    }
}

/// The ARM access of one object in `namespace`, confined to what the policies grant it; or
/// why it gets none. Makes no ARM request.
pub async fn arm_for(ctx: &Context, namespace: &str, subject: &Subject<'_>) -> Result<Arc<dyn Arm>, Refusal> {
    let view = ctx.policies.view(namespace).await.map_err(|e| Refusal { reason: ReadyReason::WaitingForDependency, message: e.to_string() })?;
    let grant = grant_for(namespace, &view.labels, view.policies.iter().map(Arc::as_ref));
    let decision = decide(namespace, grant.as_ref(), &ctx.settings.allowed_subscriptions, subject).inspect_err(|r| {
        tracing::info!(%namespace, policies = ?grant.as_ref().map(|g| &g.policies), reason = %r.message, "object refused: out of scope");
    })?;
    let inner = match &decision.credential {
        Credential::Operator => ctx.arm.arm_for(namespace, None).await,
        Credential::Secret { namespace: ns, name } => ctx.arm.arm_for(ns, Some(&SecretRef { name: name.clone() })).await,
    }
    .map_err(|e| Refusal { reason: ReadyReason::CredentialsUnavailable, message: e.to_string() })?;
    Ok(Arc::new(ScopedArm::new(inner, decision.scope, ctx.arm.arm_endpoint())))
}
