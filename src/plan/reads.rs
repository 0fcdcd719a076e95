//! How a reconcile reads what it manages with the fewest ARM requests (pure). A child that its
//! parent's body lists in full (a VNet's `subnets`, an NSG's `securityRules`, a route table's
//! `routes`) is read through one GET of the parent; anything else with its own GET. ARM returns
//! the same child objects either way (id, name, etag, properties with provisioningState), so the
//! plan decides on the same facts for a fraction of the reads: a ComputeSubnet with 15 rules and 3
//! routes costs 3 GETs, not 21.
//!
//! A private DNS zone's VNet links are read one GET each, not with a LIST of the zone's links: a
//! shared privatelink zone holds one link per VNet of every workspace that uses it, so a LIST
//! grows with the fleet (500 links are five pages, each a GET counted against Private DNS's 500
//! reads per 5 minutes) while a pass wants one link per VNet.

use std::collections::BTreeSet;

/// How one resource is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// Its own GET.
    Own,
    /// An item of `array` in the body of `parent` (matched by name).
    InParent { parent: String, array: &'static str },
}

/// Children listed in full inside their parent's body: (collection segment, body array).
const INLINE: &[(&str, &str)] = &[("subnets", "subnets"), ("securityrules", "securityRules"), ("routes", "routes")];

/// How `id` is read.
pub fn read_of(id: &str) -> Read {
    let trimmed = id.trim_end_matches('/');
    let Some((collection, _name)) = trimmed.rsplit_once('/') else { return Read::Own };
    let Some((parent, segment)) = collection.rsplit_once('/') else { return Read::Own };
    // Only children of a provider resource (".../providers/<ns>/<type>/<name>/<segment>/<name>").
    if !parent.to_ascii_lowercase().contains("/providers/") || parent.split('/').count() < 9 {
        return Read::Own;
    }
    let seg = segment.to_ascii_lowercase();
    if let Some((_, array)) = INLINE.iter().find(|(s, _)| *s == seg) {
        return Read::InParent { parent: parent.to_string(), array };
    }
    Read::Own
}

/// The GETs that read `ids`: each resource read on its own, and each parent that serves
/// children, once (ARM ids compare case-insensitively).
pub fn requests<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut gets: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for id in ids {
        let target = match read_of(id) {
            Read::Own => id.to_string(),
            Read::InParent { parent, .. } => parent,
        };
        if seen.insert(target.to_ascii_lowercase()) {
            gets.insert(target);
        }
    }
    gets.into_iter().collect()
}

/// The resource a child resource or a child collection lives in: `.../privateEndpoints/pe` for
/// `.../privateEndpoints/pe/privateDnsZoneGroups/default`, `.../privateDnsZones/z` for the
/// collection `.../privateDnsZones/z/virtualNetworkLinks`. `None` for a top-level resource (or
/// anything that is not under a provider).
pub fn container_of(id_or_collection: &str) -> Option<&str> {
    let trimmed = id_or_collection.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.len() < 10 || !parts.get(5).is_some_and(|p| p.eq_ignore_ascii_case("providers")) {
        return None;
    }
    // A resource has an odd number of parts ("", then name/value pairs), a collection an even one.
    let drop = if parts.len() % 2 == 1 { 2 } else { 1 };
    let keep = parts.len() - drop;
    let len: usize = parts[..keep].iter().map(|p| p.len()).sum::<usize>() + keep - 1;
    Some(&trimmed[..len])
}

/// Whether `id` is a top-level resource whose body lists its children in full (a VNet's subnets,
/// an NSG's rules, a route table's routes): a create PUT over it, if it exists, would drop them.
pub fn lists_children(id: &str) -> bool {
    let parts: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    parts.len() == 9
        && parts[5].eq_ignore_ascii_case("providers")
        && parts[6].eq_ignore_ascii_case("Microsoft.Network")
        && ["virtualNetworks", "networkSecurityGroups", "routeTables"].iter().any(|t| parts[7].eq_ignore_ascii_case(t))
}

/// The item named like the last segment of `id` in a parent's `array` or a LIST's items.
pub fn item_named<'a>(items: impl IntoIterator<Item = &'a serde_json::Value>, id: &str) -> Option<serde_json::Value> {
    let name = id.trim_end_matches('/').rsplit('/').next()?;
    items.into_iter().find(|i| i.get("name").and_then(serde_json::Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))).cloned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_child_and_a_child_collection_live_in_their_resource() {
        let pe = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe";
        let zone = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net";
        assert_eq!(super::container_of(&format!("{pe}/privateDnsZoneGroups/default")), Some(pe));
        assert_eq!(super::container_of(&format!("{zone}/virtualNetworkLinks")), Some(zone));
        assert_eq!(super::container_of(&format!("{zone}/virtualNetworkLinks/")), Some(zone));
        assert_eq!(super::container_of(pe), None);
        assert_eq!(super::container_of("/subscriptions/s/resourceGroups/rg"), None);
        assert_eq!(super::container_of("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones"), None);
    }

    use super::*;

    const RG: &str = "/subscriptions/s/resourceGroups/rg/providers";

    #[test]
    fn parents_that_list_their_children_are_known() {
        assert!(lists_children(&format!("{RG}/Microsoft.Network/virtualNetworks/v")));
        assert!(lists_children(&format!("{RG}/microsoft.network/NetworkSecurityGroups/n")));
        assert!(lists_children(&format!("{RG}/Microsoft.Network/routeTables/r")));
        assert!(!lists_children(&format!("{RG}/Microsoft.Network/virtualNetworks/v/subnets/s")));
        assert!(!lists_children(&format!("{RG}/Microsoft.Storage/storageAccounts/st")));
        assert!(!lists_children(&format!("{RG}/Microsoft.Network/privateDnsZones/z")));
    }

    #[test]
    fn children_are_read_through_their_parent_or_one_list() {
        let vnet = format!("{RG}/Microsoft.Network/virtualNetworks/v");
        assert_eq!(read_of(&format!("{vnet}/subnets/a")), Read::InParent { parent: vnet.clone(), array: "subnets" });
        let nsg = format!("{RG}/Microsoft.Network/networkSecurityGroups/n");
        assert_eq!(read_of(&format!("{nsg}/securityRules/r")), Read::InParent { parent: nsg, array: "securityRules" });
        let rt = format!("{RG}/Microsoft.Network/routeTables/t");
        assert_eq!(read_of(&format!("{rt}/routes/x")), Read::InParent { parent: rt, array: "routes" });
        let zone = format!("{RG}/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net");
        // A zone's link has its own GET: a LIST of a shared zone's links grows with the fleet.
        assert_eq!(read_of(&format!("{zone}/virtualNetworkLinks/l")), Read::Own);
        assert_eq!(container_of(&format!("{zone}/virtualNetworkLinks/l")), Some(zone.as_str()));
        for own in [vnet.clone(), zone.clone(), format!("{RG}/Microsoft.Network/privateEndpoints/p/privateDnsZoneGroups/default"), format!("{RG}/Microsoft.Storage/storageAccounts/st")] {
            assert_eq!(read_of(&own), Read::Own, "{own}");
        }
        // A resource group or provider path that merely ends in "routes" is no child.
        assert_eq!(read_of("/subscriptions/s/resourceGroups/routes"), Read::Own);
    }

    #[test]
    fn each_parent_and_list_is_requested_once() {
        let nsg = format!("{RG}/Microsoft.Network/networkSecurityGroups/n");
        let ids = [nsg.clone(), format!("{nsg}/securityRules/a"), format!("{}/securityRules/b", nsg.to_uppercase()), format!("{RG}/Microsoft.Network/routeTables/t/routes/r")];
        let gets = requests(ids.iter().map(String::as_str));
        assert_eq!(gets, vec![format!("{RG}/Microsoft.Network/networkSecurityGroups/n"), format!("{RG}/Microsoft.Network/routeTables/t")]);
    }

    #[test]
    fn items_match_by_name_case_insensitively() {
        let items = [serde_json::json!({"name": "Moat-In-Batch", "properties": {}}), serde_json::json!({"name": "other"})];
        assert!(item_named(items.iter(), "/x/securityRules/moat-in-batch").is_some());
        assert!(item_named(items.iter(), "/x/securityRules/missing").is_none());
    }
}
