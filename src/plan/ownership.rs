//! Ownership is recorded, never guessed: resources moat creates carry tags naming the owning
//! object; rules and routes moat adds to an NSG or route table carry the `moat-` name prefix.

use serde_json::{Map, Value};

/// Tag: `<kind>/<namespace>/<name>` of the owning object.
pub const TAG_OWNER: &str = "moat.dev_owner";
/// Tag: uid of the owning object (the decisive record: a recreated object with the same name is another owner).
pub const TAG_OWNER_UID: &str = "moat.dev_owner-uid";
/// Tag: always `moat`.
pub const TAG_MANAGED_BY: &str = "moat.dev_managed-by";
/// Name prefix of NSG rules and routes moat adds.
pub const CHILD_PREFIX: &str = "moat-";

/// The object that owns what moat creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Owner {
    pub fn new(kind: &str, namespace: &str, name: &str, uid: &str) -> Self {
        Self { kind: kind.into(), namespace: namespace.into(), name: name.into(), uid: uid.into() }
    }

    /// The ownership tags, merged over the user's extra tags (moat's win).
    pub fn tags(&self, extra: &std::collections::BTreeMap<String, String>) -> Value {
        let mut m = Map::new();
        for (k, v) in extra {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        m.insert(TAG_OWNER.into(), Value::String(self.owner_tag()));
        m.insert(TAG_OWNER_UID.into(), Value::String(self.uid.clone()));
        m.insert(TAG_MANAGED_BY.into(), Value::String("moat".into()));
        Value::Object(m)
    }

    /// The owner-name tag's value, `<kind>/<namespace>/<name>`, cut to Azure's 256 characters
    /// (the uid tag is the decisive record; this one is for people).
    pub fn owner_tag(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name).chars().take(256).collect()
    }

    /// True when the observed resource's tags name this owner: by uid, or, for an owner that
    /// has no uid yet (`moat plan` on a file), by the owner-name tag.
    pub fn owns(&self, observed: &Value) -> bool {
        if self.uid.is_empty() {
            let name = self.owner_tag();
            return observed.get("tags").and_then(|t| t.get(TAG_OWNER)).and_then(Value::as_str) == Some(name.as_str());
        }
        owner_uid(observed).is_some_and(|u| u == self.uid)
    }
}

/// The owner uid recorded on an observed resource, if any.
pub fn owner_uid(observed: &Value) -> Option<&str> {
    observed.get("tags").and_then(|t| t.get(TAG_OWNER_UID)).and_then(Value::as_str)
}

/// True for an NSG rule or route name that moat manages.
pub fn is_moat_child(name: &str) -> bool {
    name.starts_with(CHILD_PREFIX)
}
