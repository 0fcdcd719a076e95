//! Desired state -> ordered ARM actions. Pure: no I/O.
//!
//! Each reconciler builds the [`Desired`] resources of its object (`workspace`, `endpoint`,
//! `subnet` submodules), pairs them with what a GET observed, and [`decide`]s per resource:
//! create, update (only when a field moat manages drifted), wait, leave alone, or refuse (the name
//! is taken by a resource moat does not own). A converged object yields no writes.

pub mod decide;
pub mod diff;
pub mod endpoint;
pub mod ids;
pub mod limits;
pub mod order;
pub mod reads;
pub mod ownership;
pub mod subnet;
pub mod workspace;

pub use decide::{Decision, Desired, Mode, decide};

use std::collections::HashMap;

use serde::Serialize;

/// One ARM write the plan asks for.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Create, Update or Delete.
    pub verb: Verb,
    /// Short kind, e.g. `VirtualNetwork`.
    pub kind: &'static str,
    /// ARM id of the resource.
    pub id: String,
    /// HTTP method the action uses.
    pub method: &'static str,
    /// Request body (PUT / PATCH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Why: "absent", or the drifted fields.
    pub reason: String,
    /// Steps of one stage are independent and may run in parallel; stages run in order.
    pub stage: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verb {
    Create,
    Update,
    Delete,
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        })
    }
}

/// Stage of each desired resource: its depth in the dependency graph.
pub fn stage_numbers(desired: &[Desired]) -> HashMap<String, u8> {
    let deps: HashMap<String, Vec<String>> =
        desired.iter().map(|d| (d.id.to_ascii_lowercase(), d.deps.iter().map(|x| x.to_ascii_lowercase()).collect())).collect();
    // `guard` cuts a cycle: no chain is longer than the number of resources.
    fn depth(k: &str, deps: &HashMap<String, Vec<String>>, seen: &mut HashMap<String, u8>, guard: usize) -> u8 {
        if let Some(v) = seen.get(k) {
            return *v;
        }
        if guard > deps.len() {
            return 0;
        }
        let v = deps
            .get(k)
            .map(|ds| ds.iter().filter(|d| deps.contains_key(*d)).map(|d| depth(d, deps, seen, guard + 1).saturating_add(1)).max().unwrap_or(0))
            .unwrap_or(0);
        seen.insert(k.to_string(), v);
        v
    }
    let mut seen = HashMap::new();
    for k in deps.keys() {
        depth(k, &deps, &mut seen, 0);
    }
    seen
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::decide::UpdateStyle;
    use serde_json::Value;

    fn d(id: &str, mode: Mode, deps: &[&str]) -> Desired {
        Desired {
            kind: "X",
            id: id.into(),
            mode,
            body: Value::Null,
            managed: Value::Null,
            update: UpdateStyle::MergePut,
            deps: deps.iter().map(|s| s.to_string()).collect(),
        }
    }

    const NSG: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg";

    #[test]
    fn long_chains_get_their_depth() {
        // Longer than any fixed recursion guard would allow.
        let ids: Vec<String> = (0..60).map(|i| format!("{NSG}/securityRules/r{i:02}")).collect();
        let plan: Vec<Desired> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let previous: Vec<&str> = i.checked_sub(1).map(|p| ids[p].as_str()).into_iter().collect();
                d(id, Mode::Child, &previous)
            })
            .collect();
        assert_eq!(stage_numbers(&plan)[&ids[59].to_ascii_lowercase()], 59);
    }
}
