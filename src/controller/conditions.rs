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
