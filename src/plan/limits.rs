//! Azure's name and tag limits, checked on every resource the plan would write before any write:
//! a name or tag Azure refuses becomes a condition naming the resource and the limit, not a
//! failed request (or, worse, a request ARM truncates or rejects mid-way through a graph).
//!
//! Names: Azure's naming rules per type (the CRDs bound the names users give; this catches the
//! names moat derives, such as `<subnet>-nsg`, and object names used as resource names). Tags: at
//! most 50 per resource, names up to 512 characters (128 on storage accounts) without
//! `<>%&\?/`, values up to 256 characters.

use serde_json::Value;

use super::decide::Desired;

/// The longest name Azure accepts for a kind moat writes.
pub fn max_name_len(kind: &str) -> usize {
    match kind {
        "VirtualNetwork" => 64,
        "StorageAccount" | "KeyVault" => 24,
        "ContainerRegistry" => 50,
        "Workspace" => 33,
        "ApplicationInsights" => 255,
        "PrivateDnsZone" => 253,
        // Subnets, NSGs and rules, route tables and routes, private endpoints, zone groups, links.
        _ => 80,
    }
}

/// Longest tag name on storage accounts (other resources: 512).
const STORAGE_TAG_NAME: usize = 128;
const TAG_NAME: usize = 512;
const TAG_VALUE: usize = 256;
const TAGS: usize = 50;

/// What breaks Azure's limits in one desired resource (empty when nothing does).
pub fn violations(d: &Desired) -> Vec<String> {
    let mut out = Vec::new();
    let name = super::ids::name_of(&d.id);
    let max = max_name_len(d.kind);
    if name.chars().count() > max {
        out.push(format!("{} name {name:?} is {} characters; Azure allows {max}", d.kind, name.chars().count()));
    }
    if let Some(tags) = d.body.get("tags").and_then(Value::as_object) {
        if tags.len() > TAGS {
            out.push(format!("{} {name} would carry {} tags; Azure allows {TAGS}", d.kind, tags.len()));
        }
        let key_max = if d.kind == "StorageAccount" { STORAGE_TAG_NAME } else { TAG_NAME };
        for (k, v) in tags {
            if k.chars().count() > key_max {
                out.push(format!("{} {name}: tag name {k:?} is {} characters; Azure allows {key_max}", d.kind, k.chars().count()));
            }
            if let Some(c) = k.chars().find(|c| "<>%&\\?/".contains(*c)) {
                out.push(format!("{} {name}: tag name {k:?} contains {c:?}, which Azure refuses in tag names", d.kind));
            }
            let len = v.as_str().map(|s| s.chars().count()).unwrap_or(0);
            if len > TAG_VALUE {
                out.push(format!("{} {name}: tag {k} has a value of {len} characters; Azure allows {TAG_VALUE}", d.kind));
            }
        }
    }
    out
}

/// Every violation in a plan, one line each.
pub fn check(wanted: &[Desired]) -> Vec<String> {
    wanted.iter().flat_map(violations).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::decide::{Mode, UpdateStyle};
    use serde_json::json;

    fn d(kind: &'static str, name: &str, tags: Value) -> Desired {
        Desired {
            kind,
            id: format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/x/{name}"),
            mode: Mode::Create,
            body: json!({"tags": tags}),
            managed: Value::Null,
            update: UpdateStyle::MergePut,
            deps: vec![],
        }
    }

    #[test]
    fn names_and_tags_beyond_azure_limits_are_named() {
        assert!(violations(&d("NetworkSecurityGroup", &"n".repeat(80), json!({}))).is_empty());
        let v = violations(&d("NetworkSecurityGroup", &format!("{}-nsg", "s".repeat(80)), json!({})));
        assert!(v[0].contains("84 characters; Azure allows 80"), "{v:?}");
        let v = violations(&d("PrivateEndpoint", "pe", json!({"team": "x".repeat(257)})));
        assert!(v[0].contains("257 characters; Azure allows 256"), "{v:?}");
        let v = violations(&d("StorageAccount", "st", json!({"k".repeat(129): "v"})));
        assert!(v[0].contains("Azure allows 128"), "{v:?}");
        let v = violations(&d("RouteTable", "rt", json!({"a/b": "v"})));
        assert!(v[0].contains("refuses in tag names"), "{v:?}");
        let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("t{i}"), json!("v"))).collect();
        assert!(violations(&d("RouteTable", "rt", Value::Object(many)))[0].contains("51 tags"));
    }
}
