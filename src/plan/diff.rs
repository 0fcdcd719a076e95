//! Managed-fields diff: does what ARM returned already satisfy what moat wants?
//!
//! `desired` holds only the fields moat manages. An object is covered when every key of desired
//! is covered in observed (extra keys in observed — readonly fields, other people's tags — are
//! fine). Strings compare ASCII case-insensitively, as ARM ids, enums and locations do. Arrays
//! compare as sets: every desired element must be covered by some observed element, and an array
//! marked exact (address prefixes) must also have the same length.

use serde_json::Value;

/// Paths (dotted) where observed does not cover desired; empty when converged.
pub fn drift(observed: &Value, desired: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(observed, desired, String::new(), &mut out);
    out
}

/// True when observed satisfies every managed field of desired.
pub fn covers(observed: &Value, desired: &Value) -> bool {
    drift(observed, desired).is_empty()
}

fn walk(observed: &Value, desired: &Value, path: String, out: &mut Vec<String>) {
    match (observed, desired) {
        (_, Value::Null) => {}
        (Value::Object(o), Value::Object(d)) => {
            for (k, dv) in d {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match find_key(o, k) {
                    Some(ov) => walk(ov, dv, p, out),
                    None => {
                        if !dv.is_null() {
                            out.push(p)
                        }
                    }
                }
            }
        }
        (Value::Array(o), Value::Array(d)) => {
            let all_present = d.iter().all(|dv| o.iter().any(|ov| covers(ov, dv)));
            let exact = d.iter().all(|v| !v.is_object()) && o.len() != d.len();
            if !all_present || exact {
                out.push(path);
            }
        }
        (Value::String(o), Value::String(d)) => {
            if !o.eq_ignore_ascii_case(d) {
                out.push(path)
            }
        }
        (Value::Number(o), Value::Number(d)) => {
            if o.as_f64() != d.as_f64() {
                out.push(path)
            }
        }
        (o, d) => {
            if o != d {
                out.push(path)
            }
        }
    }
}

/// ARM property names are case-insensitive on input but returned in their canonical casing;
/// look up exactly first, then case-insensitively.
fn find_key<'a>(o: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a Value> {
    o.get(k).or_else(|| o.iter().find(|(ok, _)| ok.eq_ignore_ascii_case(k)).map(|(_, v)| v))
}

/// Deep-merges `patch` into `base` (objects merged key by key, anything else replaced).
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, pv) in p {
                match b.get_mut(k) {
                    Some(bv) => merge(bv, pv),
                    None => {
                        b.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(p)) if p.iter().all(has_key) && b.iter().all(has_key) => {
            // Lists of named or id'd objects (virtual-network rules, ip rules, connections): union
            // by key, so a write never drops an element someone else added, nor repeats one.
            for pv in p {
                match b.iter_mut().find(|bv| same_item(bv, pv)) {
                    Some(bv) => merge(bv, pv),
                    None => b.push(pv.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

const ITEM_KEYS: [&str; 3] = ["id", "name", "value"];

fn has_key(v: &Value) -> bool {
    ITEM_KEYS.iter().any(|k| v.get(k).and_then(Value::as_str).is_some())
}

/// Whether two list elements are the same item: by the first of `id`, `name`, `value` that both
/// carry (ARM returns a sub-resource with its `id` and `name`; moat sends its `name` only).
fn same_item(a: &Value, b: &Value) -> bool {
    let key = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    ITEM_KEYS
        .iter()
        .find_map(|k| key(a, k).zip(key(b, k)))
        .is_some_and(|(x, y)| x.eq_ignore_ascii_case(&y))
}

/// The part of `observed` a PATCH of `managed` touches: top-level keys of managed, and under
/// `properties` the keys of managed's properties, each taken whole from observed so merging the
/// managed fields over it keeps their siblings.
pub fn project(observed: &Value, managed: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let (Value::Object(o), Value::Object(m)) = (observed, managed) else { return Value::Object(out) };
    for (k, mv) in m {
        let Some(ov) = o.get(k) else { continue };
        if let (true, Value::Object(op), Value::Object(mp)) = (k == "properties", ov, mv) {
            let props: serde_json::Map<String, Value> =
                mp.keys().filter_map(|pk| op.get(pk).map(|v| (pk.clone(), v.clone()))).collect();
            out.insert(k.clone(), Value::Object(props));
            continue;
        }
        out.insert(k.clone(), ov.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_observed_fields_and_foreign_tags_are_not_drift() {
        let observed = json!({"id": "/x", "tags": {"a": "1", "team": "x"}, "properties": {"provisioningState": "Succeeded", "defaultAction": "Deny"}});
        let desired = json!({"tags": {"a": "1"}, "properties": {"defaultAction": "Deny"}});
        assert!(covers(&observed, &desired));
    }

    #[test]
    fn changed_managed_field_is_reported_with_its_path() {
        let observed = json!({"properties": {"networkAcls": {"defaultAction": "Allow"}}});
        let desired = json!({"properties": {"networkAcls": {"defaultAction": "Deny"}}});
        assert_eq!(drift(&observed, &desired), vec!["properties.networkAcls.defaultAction"]);
    }

    #[test]
    fn strings_compare_case_insensitively_and_scalar_arrays_exactly() {
        assert!(covers(&json!({"sku": {"name": "premium"}}), &json!({"sku": {"name": "Premium"}})));
        let d = json!({"p": ["10.0.0.0/16"]});
        assert!(covers(&json!({"p": ["10.0.0.0/16"]}), &d));
        assert!(!covers(&json!({"p": ["10.0.0.0/16", "10.1.0.0/16"]}), &d));
        assert!(!covers(&json!({"p": []}), &d));
    }

    #[test]
    fn object_arrays_are_subsets() {
        let observed = json!({"r": [{"id": "/A", "x": 1}, {"id": "/b"}]});
        assert!(covers(&observed, &json!({"r": [{"id": "/a"}]})));
        assert!(!covers(&observed, &json!({"r": [{"id": "/c"}]})));
    }

    #[test]
    fn missing_key_is_drift_but_desired_null_is_not() {
        assert_eq!(drift(&json!({}), &json!({"a": 1})), vec!["a"]);
        assert!(covers(&json!({}), &json!({"a": null})));
    }

    #[test]
    fn merge_unions_keyed_lists_and_project_keeps_siblings() {
        let mut base = json!({"rules": [{"id": "/a", "action": "Allow"}]});
        merge(&mut base, &json!({"rules": [{"id": "/B", "action": "Allow"}]}));
        assert_eq!(base["rules"].as_array().map(Vec::len), Some(2));
        let observed = json!({"id": "/x", "tags": {"team": "t"}, "properties": {"networkAcls": {"ipRules": [{"value": "1.2.3.4"}], "defaultAction": "Allow"}, "other": 1}});
        let managed = json!({"tags": {"moat": "y"}, "properties": {"networkAcls": {"defaultAction": "Deny"}}});
        let mut body = project(&observed, &managed);
        merge(&mut body, &managed);
        assert_eq!(body, json!({"tags": {"team": "t", "moat": "y"}, "properties": {"networkAcls": {"ipRules": [{"value": "1.2.3.4"}], "defaultAction": "Deny"}}}));
    }

    #[test]
    fn merge_matches_a_named_item_to_the_one_arm_returned_with_its_id() {
        // ARM returns a connection with id and name; moat sends it by name: one connection after
        // the merge, not two (a PUT with two would give the endpoint a second set of addresses).
        let mut base = json!({"privateLinkServiceConnections": [{"id": "/pe/privateLinkServiceConnections/c", "name": "c", "properties": {"groupIds": ["registry"], "provisioningState": "Succeeded"}}]});
        merge(&mut base, &json!({"privateLinkServiceConnections": [{"name": "C", "properties": {"groupIds": ["registry"]}}]}));
        assert_eq!(base["privateLinkServiceConnections"].as_array().map(Vec::len), Some(1), "{base:#}");
        merge(&mut base, &json!({"privateLinkServiceConnections": [{"name": "d", "properties": {"groupIds": ["registry"]}}]}));
        assert_eq!(base["privateLinkServiceConnections"].as_array().map(Vec::len), Some(2), "another name is another item");
    }

    #[test]
    fn merge_overrides_leaves_and_keeps_others() {
        let mut base = json!({"properties": {"a": 1, "b": {"c": 2, "d": 3}}});
        merge(&mut base, &json!({"properties": {"b": {"c": 9}, "e": 5}}));
        assert_eq!(base, json!({"properties": {"a": 1, "b": {"c": 9, "d": 3}, "e": 5}}));
    }
}
