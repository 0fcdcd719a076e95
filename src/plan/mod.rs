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

/// Chains the children written under one Network parent (security rules of an NSG, routes of a
/// route table, subnets of a VNet), in plan order: each waits for the one before it.
///
/// ARM runs one operation at a time on a Network parent and its children; a second write while
/// one runs is refused with 409 `AnotherOperationInProgress` ("Serialise writes per parent: VNet,
/// NSG, route table, PE", azure-arm-facts.md §2.3). Writing them in parallel only turns into
/// refused writes and retries; in a chain each child is written once. A converged child costs
/// nothing in the chain (no write, no wait).
pub fn serialise_children(desired: &mut [Desired]) {
    const PARENTS: [&str; 3] = ["/securityrules/", "/routes/", "/subnets/"];
    let mut last: HashMap<String, String> = HashMap::new();
    for d in desired.iter_mut().filter(|d| d.mode == Mode::Child) {
        let lower = d.id.to_ascii_lowercase();
        if !lower.contains("/providers/microsoft.network/") || !PARENTS.iter().any(|p| lower.contains(p)) {
            continue;
        }
        let parent = ids::parent_of(&lower).to_string();
        if let Some(prev) = last.insert(parent, d.id.clone())
            && !d.deps.iter().any(|x| x.eq_ignore_ascii_case(&prev))
        {
            d.deps.push(prev);
        }
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
    const RT: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt";

    #[test]
    fn children_of_one_network_parent_are_chained_in_order() {
        let r = |n: &str| format!("{NSG}/securityRules/{n}");
        let route = |n: &str| format!("{RT}/routes/{n}");
        let mut plan = vec![
            d(NSG, Mode::Create, &[]),
            d(&r("a"), Mode::Child, &[NSG]),
            d(RT, Mode::Create, &[]),
            d(&route("x"), Mode::Child, &[RT]),
            d(&r("b"), Mode::Child, &[NSG]),
            d(&route("y"), Mode::Child, &[RT]),
            d(&r("c"), Mode::Child, &[NSG, &r("b")]),
        ];
        serialise_children(&mut plan);
        assert_eq!(plan[1].deps, [NSG]);
        assert_eq!(plan[4].deps, [NSG.to_string(), r("a")]);
        assert_eq!(plan[6].deps, [NSG.to_string(), r("b")], "an existing dependency is not repeated");
        assert_eq!(plan[3].deps, [RT]);
        assert_eq!(plan[5].deps, [RT.to_string(), route("x")], "routes chain apart from the rules");
        assert!(plan[0].deps.is_empty() && plan[2].deps.is_empty(), "parents are not chained");
        let stages = stage_numbers(&plan);
        assert_eq!(stages[&r("c").to_ascii_lowercase()], 3);
    }

    #[test]
    fn other_children_are_left_alone() {
        let pe = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe";
        let mut plan = vec![
            d(&format!("{pe}/privateDnsZoneGroups/default"), Mode::Child, &[pe]),
            d(&format!("{pe}/privateDnsZoneGroups/other"), Mode::Child, &[pe]),
            d(&format!("{NSG}/securityRules/adopted"), Mode::Adopt, &[]),
            d(&format!("{NSG}/securityRules/mine"), Mode::Child, &[]),
        ];
        serialise_children(&mut plan);
        assert!(plan.iter().all(|p| p.deps.len() <= 1), "{:?}", plan.iter().map(|p| &p.deps).collect::<Vec<_>>());
    }

    #[test]
    fn long_chains_get_their_depth() {
        let ids: Vec<String> = (0..60).map(|i| format!("{NSG}/securityRules/r{i:02}")).collect();
        let mut plan: Vec<Desired> = ids.iter().map(|i| d(i, Mode::Child, &[])).collect();
        serialise_children(&mut plan);
        assert_eq!(stage_numbers(&plan)[&ids[59].to_ascii_lowercase()], 59);
    }
}
