//! Status conditions: upsert by type, keeping lastTransitionTime when the status did not change.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const CONSTRAINTS_SATISFIED: &str = "ConstraintsSatisfied";
pub const NETWORK_READY: &str = "NetworkReady";
pub const DNS_READY: &str = "DnsReady";
pub const RESOURCES_READY: &str = "ResourcesReady";
pub const PRIVATE_ENDPOINTS_READY: &str = "PrivateEndpointsReady";
pub const ENDPOINT_READY: &str = "EndpointReady";
pub const SUBNET_READY: &str = "SubnetReady";
pub const NSG_READY: &str = "NsgReady";
pub const ROUTES_READY: &str = "RoutesReady";

/// How a GitOps tool (Argo CD's health assessment) should show an object whose Ready condition
/// carries a given reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Health {
    /// Converged: nothing left to do.
    Healthy,
    /// Work under way that ends on its own (writes, Azure operations, another object first).
    Progressing,
    /// Needs a person: a constraint violation, a missing credential, an Azure error that retrying
    /// does not fix.
    Degraded,
    /// Reconciliation is paused on purpose.
    Suspended,
}

/// Every reason moat puts on a `Ready` condition: the one registry the controllers, the Argo CD
/// health checks (`charts/moat/argocd/`) and the docs read. Add a reason here, never as a bare
/// string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadyReason {
    /// Azure matches the spec.
    Converged,
    /// Writes or Azure operations are under way.
    Converging,
    /// Another object or Azure resource must exist first (the workspace's VNet, a binding's subnet).
    WaitingForDependency,
    /// Deletion is under way; the finalizer stays until Azure confirms.
    Deleting,
    /// An Error finding of the constraint catalog holds back every write of the object.
    ConstraintViolation,
    /// The spec cannot be turned into Azure resources (see the message).
    InvalidSpec,
    /// The object refers to a SecureWorkspace that does not exist.
    WorkspaceNotFound,
    /// The object names an Azure scope moat may not touch for its namespace.
    OutOfScope,
    /// The credentials the object needs cannot be read or used.
    CredentialsUnavailable,
    /// A resource moat would create exists and is not moat's (name taken).
    NotOwned,
    /// A resource the spec adopts by id does not exist.
    AdoptedResourceMissing,
    /// Azure refused a write or an operation failed; retrying does not help until something changes.
    AzureError,
    /// The private-link connection waits for the target owner's approval.
    AwaitingApproval,
    /// Reconciliation is paused by annotation.
    Paused,
}

impl ReadyReason {
    pub const ALL: &'static [ReadyReason] = &[
        ReadyReason::Converged,
        ReadyReason::Converging,
        ReadyReason::WaitingForDependency,
        ReadyReason::Deleting,
        ReadyReason::ConstraintViolation,
        ReadyReason::InvalidSpec,
        ReadyReason::WorkspaceNotFound,
        ReadyReason::OutOfScope,
        ReadyReason::CredentialsUnavailable,
        ReadyReason::NotOwned,
        ReadyReason::AdoptedResourceMissing,
        ReadyReason::AzureError,
        ReadyReason::AwaitingApproval,
        ReadyReason::Paused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadyReason::Converged => "Converged",
            ReadyReason::Converging => "Converging",
            ReadyReason::WaitingForDependency => "WaitingForDependency",
            ReadyReason::Deleting => "Deleting",
            ReadyReason::ConstraintViolation => "ConstraintViolation",
            ReadyReason::InvalidSpec => "InvalidSpec",
            ReadyReason::WorkspaceNotFound => "WorkspaceNotFound",
            ReadyReason::OutOfScope => "OutOfScope",
            ReadyReason::CredentialsUnavailable => "CredentialsUnavailable",
            ReadyReason::NotOwned => "NotOwned",
            ReadyReason::AdoptedResourceMissing => "AdoptedResourceMissing",
            ReadyReason::AzureError => "AzureError",
            ReadyReason::AwaitingApproval => "AwaitingApproval",
            ReadyReason::Paused => "Paused",
        }
    }

    pub fn health(self) -> Health {
        match self {
            ReadyReason::Converged => Health::Healthy,
            ReadyReason::Converging | ReadyReason::WaitingForDependency | ReadyReason::Deleting | ReadyReason::AwaitingApproval => {
                Health::Progressing
            }
            ReadyReason::Paused => Health::Suspended,
            ReadyReason::ConstraintViolation
            | ReadyReason::InvalidSpec
            | ReadyReason::WorkspaceNotFound
            | ReadyReason::OutOfScope
            | ReadyReason::CredentialsUnavailable
            | ReadyReason::NotOwned
            | ReadyReason::AdoptedResourceMissing
            | ReadyReason::AzureError => Health::Degraded,
        }
    }

    pub fn parse(s: &str) -> Option<ReadyReason> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for ReadyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Ready condition with a registered reason.
pub fn ready(reason: ReadyReason, message: impl Into<String>, generation: Option<i64>) -> Condition {
    condition(READY, reason == ReadyReason::Converged, reason.as_str(), message, generation)
}

/// A condition for the given generation.
pub fn condition(type_: &str, ok: bool, reason: &str, message: impl Into<String>, generation: Option<i64>) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    }
}

/// Inserts or replaces the condition of the same type; the transition time moves only when the
/// status changes.
pub fn set(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => conditions.push(new),
    }
}

/// True when the condition of this type is True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

/// Conditions equal apart from their transition times (used to skip no-op status writes).
pub fn same(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| {
            b.iter().any(|y| {
                x.type_ == y.type_
                    && x.status == y.status
                    && x.reason == y.reason
                    && x.message == y.message
                    && x.observed_generation == y.observed_generation
            })
        })
}

/// A status with conditions, so "write only if something changed" is written once.
pub trait WithConditions: Clone + PartialEq + serde::Serialize {
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
}

macro_rules! with_conditions {
    ($($t:ty),*) => {$(
        impl WithConditions for $t {
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
        }
    )*};
}
with_conditions!(
    crate::api::SecureWorkspaceStatus,
    crate::api::PrivateEndpointBindingStatus,
    crate::api::ComputeSubnetStatus
);

/// True when `new` differs from `old` in more than condition transition times.
pub fn changed<S: WithConditions>(old: Option<&S>, new: &S) -> bool {
    let Some(old) = old else { return true };
    let (mut a, mut b) = (old.clone(), new.clone());
    let same_conditions = same(a.conditions_mut(), b.conditions_mut());
    a.conditions_mut().clear();
    b.conditions_mut().clear();
    !(same_conditions && a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_when_status_unchanged() {
        let mut cs = vec![];
        let first = condition(READY, false, "Creating", "a", Some(1));
        let t0 = first.last_transition_time.clone();
        set(&mut cs, first);
        set(&mut cs, condition(READY, false, "Creating", "b", Some(2)));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, t0);
        assert_eq!(cs[0].message, "b");
        set(&mut cs, condition(READY, true, "Converged", "c", Some(2)));
        assert!(is_true(&cs, READY));
    }

    #[test]
    fn status_unchanged_but_for_transition_times_is_not_rewritten() {
        let mut old = crate::api::ComputeSubnetStatus::default();
        set(&mut old.conditions, condition(READY, true, "Converged", "m", Some(1)));
        let mut new = old.clone();
        new.conditions[0].last_transition_time = Time(Timestamp::UNIX_EPOCH);
        assert!(!changed(Some(&old), &new));
        new.usable_ips = Some(11);
        assert!(changed(Some(&old), &new));
        assert!(changed(None, &old));
    }
}
