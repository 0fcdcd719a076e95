//! Small helpers over `serde_json` values (no panics on odd input).

use serde_json::{Map, Value};

/// Follows a dotted path of object keys.
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for k in path.split('.') {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

pub fn get_str<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    get(v, path)?.as_str()
}

pub fn get_map<'a>(m: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (first, rest) = match path.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (path, None),
    };
    let v = m.get(first)?;
    match rest {
        Some(r) => get(v, r),
        None => Some(v),
    }
}

pub fn str_in<'a>(m: &'a Map<String, Value>, path: &str) -> Option<&'a str> {
    get_map(m, path)?.as_str()
}

/// The object at `key`, created (or replaced, if it is not an object) when needed.
pub fn obj<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = m
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(o) => o,
        _ => unreachable!("slot was just made an object"),
    }
}

/// Sets `key` only when it is absent or null.
pub fn default(m: &mut Map<String, Value>, key: &str, v: Value) {
    match m.get(key) {
        Some(Value::Null) | None => {
            m.insert(key.to_string(), v);
        }
        _ => {}
    }
}

/// Removes a dotted path if present.
pub fn remove_path(m: &mut Map<String, Value>, path: &str) {
    match path.split_once('.') {
        None => {
            m.remove(path);
        }
        Some((a, rest)) => {
            if let Some(Value::Object(inner)) = m.get_mut(a) {
                remove_path(inner, rest);
            }
        }
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The `id` inside a `{"id": "..."}` reference at `path`.
pub fn ref_id<'a>(m: &'a Map<String, Value>, path: &str) -> Option<&'a str> {
    let v = get_map(m, path)?;
    v.as_object()?.get("id")?.as_str()
}

/// An array at `key` (empty when absent or not an array).
pub fn array<'a>(m: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    match m.get(key) {
        Some(Value::Array(a)) => a.as_slice(),
        _ => &[],
    }
}

pub fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }

    #[test]
    fn paths() {
        let v = json!({"properties": {"subnet": {"id": "x"}}});
        assert_eq!(get_str(&v, "properties.subnet.id"), Some("x"));
        let m = v.as_object().unwrap();
        assert_eq!(ref_id(m, "properties.subnet"), Some("x"));
        let mut m2 = m.clone();
        remove_path(&mut m2, "properties.subnet");
        assert_eq!(Value::Object(m2), json!({"properties": {}}));
    }
}
