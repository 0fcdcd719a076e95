//! Safe transitions: the order of the writes to an NSG's rules and a route table's routes, so that
//! no state on the way is less permissive, for the traffic concerned, than both the start and the
//! end, nor more permissive than both.
//!
//! Every write to a rule or route either **widens** what the subnet may do (adding or updating an
//! Allow rule, deleting a Deny rule; adding a route that sends traffic out directly — next hop
//! `Internet` or `VnetLocal` —, deleting a route that captures it — a firewall, a gateway, a black
//! hole) or **narrows** it (the opposite). Under one NSG or route table every narrowing change waits
//! for every widening change: allows before denies when adding, denies before allows when removing;
//! the forced-tunneling exceptions (BatchNodeManagement, AzureMachineLearning → Internet) before the
//! 0.0.0.0/0 route to the firewall, and the reverse on removal. With the changes ordered so, a flow
//! that both ends allow is allowed throughout (widening first only adds), and one both ends deny is
//! denied throughout for moat's rules (their Deny sits at the lowest priority).
//!
//! The order is a dependency in the plan's graph, never a timing.

use std::collections::HashMap;

use serde_json::Value;

/// What a write does to the traffic its rule or route matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Widens,
    Narrows,
}

/// The parent collection of an NSG rule or route id (`…/networkSecurityGroups/n`,
/// `…/routeTables/r`), lower-cased.
pub fn parent_of_child(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    ["/securityrules/", "/routes/"].iter().find_map(|m| lower.rfind(m).map(|i| lower[..i].to_string()))
}

fn prop<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get("properties").and_then(|p| p.get(key)).or_else(|| body.get(key)).and_then(Value::as_str)
}

/// What writing (`removing: false`) or deleting (`removing: true`) this rule or route does.
/// `None` for other kinds.
pub fn effect(kind: &str, body: &Value, removing: bool) -> Option<Effect> {
    let grants = match kind {
        "SecurityRule" => prop(body, "access").is_some_and(|a| a.eq_ignore_ascii_case("Allow")),
        "Route" => prop(body, "nextHopType").is_some_and(|h| h.eq_ignore_ascii_case("Internet") || h.eq_ignore_ascii_case("VnetLocal")),
        _ => return None,
    };
    Some(if grants != removing { Effect::Widens } else { Effect::Narrows })
}

/// One change to order: a rule or route id, its kind, its body (desired for a write, observed for
/// a deletion) and whether it is a deletion.
#[derive(Clone, Debug)]
pub struct Change<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub body: &'a Value,
    pub removing: bool,
}

/// The dependencies that make the transition safe: for each narrowing change (lower-cased id),
/// the widening changes under the same parent it must wait for.
pub fn safe_order(changes: &[Change<'_>]) -> HashMap<String, Vec<String>> {
    let classified: Vec<(String, String, Effect)> = changes
        .iter()
        .filter_map(|c| Some((c.id.to_ascii_lowercase(), parent_of_child(c.id)?, effect(c.kind, c.body, c.removing)?)))
        .collect();
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    for (id, parent, e) in &classified {
        if *e != Effect::Narrows {
            continue;
        }
        let before: Vec<String> = classified
            .iter()
            .filter(|(other, p, oe)| p == parent && *oe == Effect::Widens && other != id)
            .map(|(other, _, _)| other.clone())
            .collect();
        if !before.is_empty() {
            deps.insert(id.clone(), before);
        }
    }
    deps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NSG: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n";
    const RT: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/r";

    #[test]
    fn denies_wait_for_allows_when_adding_and_allows_for_denies_when_removing() {
        let allow = json!({"properties": {"access": "Allow"}});
        let deny = json!({"properties": {"access": "Deny"}});
        let (a, d, old_a, old_d) = (format!("{NSG}/securityRules/moat-out-aad"), format!("{NSG}/securityRules/moat-out-deny"), format!("{NSG}/securityRules/moat-out-old"), format!("{NSG}/securityRules/moat-out-olddeny"));
        let changes = [
            Change { kind: "SecurityRule", id: &d, body: &deny, removing: false },
            Change { kind: "SecurityRule", id: &a, body: &allow, removing: false },
            Change { kind: "SecurityRule", id: &old_a, body: &allow, removing: true },
            Change { kind: "SecurityRule", id: &old_d, body: &deny, removing: true },
        ];
        let deps = safe_order(&changes);
        let of = |id: &str| {
            let mut v = deps.get(&id.to_ascii_lowercase()).cloned().unwrap_or_default();
            v.sort();
            v
        };
        let mut widening = vec![a.to_ascii_lowercase(), old_d.to_ascii_lowercase()];
        widening.sort();
        assert_eq!(of(&d), widening, "the deny is added after the allow and after the old deny goes");
        assert_eq!(of(&old_a), widening, "the old allow goes last");
        assert!(of(&a).is_empty() && of(&old_d).is_empty(), "widening changes wait for nothing");
    }

    #[test]
    fn the_default_route_to_the_firewall_waits_for_the_exceptions() {
        let exception = json!({"properties": {"addressPrefix": "BatchNodeManagement.westeurope", "nextHopType": "Internet"}});
        let default = json!({"properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.0.4"}});
        let (e, dflt) = (format!("{RT}/routes/moat-batch"), format!("{RT}/routes/moat-default"));
        let adding = [Change { kind: "Route", id: &dflt, body: &default, removing: false }, Change { kind: "Route", id: &e, body: &exception, removing: false }];
        assert_eq!(safe_order(&adding).get(&dflt.to_ascii_lowercase()), Some(&vec![e.to_ascii_lowercase()]));
        let removing = [Change { kind: "Route", id: &dflt, body: &default, removing: true }, Change { kind: "Route", id: &e, body: &exception, removing: true }];
        assert_eq!(safe_order(&removing).get(&e.to_ascii_lowercase()), Some(&vec![dflt.to_ascii_lowercase()]), "on removal the exceptions stay until the default route is gone");
    }

    #[test]
    fn changes_under_different_parents_are_independent() {
        let allow = json!({"properties": {"access": "Allow"}});
        let deny = json!({"properties": {"access": "Deny"}});
        let (a, d) = (format!("{NSG}/securityRules/a"), format!("{NSG}2/securityRules/d"));
        let deps = safe_order(&[Change { kind: "SecurityRule", id: &a, body: &allow, removing: false }, Change { kind: "SecurityRule", id: &d, body: &deny, removing: false }]);
        assert!(deps.is_empty());
    }
}
