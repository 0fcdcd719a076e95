//! Parsing of ARM request paths and building of canonical resource ids.

use super::types::TypeSpec;

/// A parsed resource path below `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub sub: String,
    pub rg: String,
    pub ns: String,
    /// Type segments as sent.
    pub types: Vec<String>,
    /// Name segments as sent: one per type for a resource, one fewer for a collection.
    pub names: Vec<String>,
}

impl ResourcePath {
    pub fn is_collection(&self) -> bool {
        self.names.len() < self.types.len()
    }

    /// `ns/t1/t2` as sent.
    pub fn type_string(&self) -> String {
        let mut s = self.ns.clone();
        for t in &self.types {
            s.push('/');
            s.push_str(t);
        }
        s
    }
}

/// What an ARM path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmPath {
    Subscription {
        sub: String,
    },
    ResourceGroups {
        sub: String,
    },
    ResourceGroup {
        sub: String,
        rg: String,
    },
    Resource(ResourcePath),
    /// `/subscriptions/{s}/providers/{ns}/{type}`: a subscription-wide list.
    SubscriptionCollection {
        sub: String,
        ns: String,
        rtype: String,
    },
    /// `/subscriptions/{s}/providers/{ns}/locations/{loc}/{kind}/{id}`: an LRO poll URL.
    Operation {
        sub: String,
        ns: String,
        location: String,
        kind: String,
        id: String,
    },
    /// `/subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults`.
    DeletedVaults {
        sub: String,
    },
    /// `/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}[/purge]`.
    DeletedVault {
        sub: String,
        location: String,
        name: String,
        purge: bool,
    },
    /// `/subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values`: the
    /// Activity Log (see `activity`).
    ActivityLog {
        sub: String,
    },
    Unknown,
}

/// Percent-decodes one path segment (invalid escapes are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(path: &str) -> ArmPath {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let eq = |i: usize, s: &str| segs.get(i).is_some_and(|x| x.eq_ignore_ascii_case(s));
    if !eq(0, "subscriptions") || segs.len() < 2 {
        return ArmPath::Unknown;
    }
    let sub = segs[1].clone();
    if segs.len() == 2 {
        return ArmPath::Subscription { sub };
    }
    if eq(2, "resourcegroups") {
        match segs.len() {
            3 => return ArmPath::ResourceGroups { sub },
            4 => {
                return ArmPath::ResourceGroup {
                    sub,
                    rg: segs[3].clone(),
                };
            }
            n if n >= 7 && eq(4, "providers") => {
                let rest = &segs[6..];
                let mut types = Vec::new();
                let mut names = Vec::new();
                for (i, s) in rest.iter().enumerate() {
                    if i % 2 == 0 {
                        types.push(s.clone());
                    } else {
                        names.push(s.clone());
                    }
                }
                return ArmPath::Resource(ResourcePath {
                    sub,
                    rg: segs[3].clone(),
                    ns: segs[5].clone(),
                    types,
                    names,
                });
            }
            _ => return ArmPath::Unknown,
        }
    }
    if eq(2, "providers") && segs.len() >= 5 {
        let ns = segs[3].clone();
        if segs.len() == 7
            && eq(3, "microsoft.insights")
            && eq(4, "eventtypes")
            && eq(5, "management")
            && eq(6, "values")
        {
            return ArmPath::ActivityLog { sub };
        }
        if eq(4, "locations") && segs.len() == 8 {
            if segs[6].eq_ignore_ascii_case("deletedVaults") {
                return ArmPath::DeletedVault {
                    sub,
                    location: segs[5].clone(),
                    name: segs[7].clone(),
                    purge: false,
                };
            }
            return ArmPath::Operation {
                sub,
                ns,
                location: segs[5].clone(),
                kind: segs[6].clone(),
                id: segs[7].clone(),
            };
        }
        if eq(4, "locations")
            && segs.len() == 9
            && segs[6].eq_ignore_ascii_case("deletedVaults")
            && eq(8, "purge")
        {
            return ArmPath::DeletedVault {
                sub,
                location: segs[5].clone(),
                name: segs[7].clone(),
                purge: true,
            };
        }
        if segs.len() == 5 {
            if ns.eq_ignore_ascii_case("Microsoft.KeyVault")
                && segs[4].eq_ignore_ascii_case("deletedVaults")
            {
                return ArmPath::DeletedVaults { sub };
            }
            return ArmPath::SubscriptionCollection {
                sub,
                ns,
                rtype: segs[4].clone(),
            };
        }
    }
    ArmPath::Unknown
}

/// The canonical id of a resource of type `spec` with the given names (caller casing kept).
pub fn build_id(sub: &str, rg: &str, spec: &TypeSpec, names: &[String]) -> String {
    let mut parts = spec.canonical.split('/');
    let ns = parts.next().unwrap_or_default();
    let mut id = format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}");
    for (t, n) in parts.zip(names) {
        id.push('/');
        id.push_str(t);
        id.push('/');
        id.push_str(n);
    }
    id
}

/// The lookup key of an id: ASCII-lower-cased, no trailing slash.
pub fn key_of(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// The id of the parent resource (strips the last `/{type}/{name}` pair), if the id is nested.
pub fn parent_id(id: &str) -> Option<String> {
    let idx = id.to_ascii_lowercase().find("/providers/")?;
    let tail = &id[idx + "/providers/".len()..];
    // tail = ns/t1/n1[/t2/n2...]
    let segs: Vec<&str> = tail.split('/').collect();
    if segs.len() < 5 {
        return None;
    }
    let keep = segs.len() - 2;
    Some(format!(
        "{}/providers/{}",
        &id[..idx],
        segs[..keep].join("/")
    ))
}

/// The top-level resource id of a (possibly nested) resource id.
pub fn root_id(id: &str) -> String {
    let Some(idx) = id.to_ascii_lowercase().find("/providers/") else {
        return id.to_string();
    };
    let tail = &id[idx + "/providers/".len()..];
    let segs: Vec<&str> = tail.split('/').collect();
    if segs.len() <= 3 {
        return id.to_string();
    }
    format!("{}/providers/{}", &id[..idx], segs[..3].join("/"))
}

/// Parsed pieces of a full resource id: (subscription, resource group, type, names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdParts {
    pub sub: String,
    pub rg: String,
    /// `ns/t1/t2` as written in the id.
    pub rtype: String,
    pub names: Vec<String>,
}

pub fn split_id(id: &str) -> Option<IdParts> {
    match parse(id) {
        ArmPath::Resource(p) if !p.is_collection() => Some(IdParts {
            rtype: p.type_string(),
            sub: p.sub,
            rg: p.rg,
            names: p.names,
        }),
        _ => None,
    }
}

/// The last name segment of an id.
pub fn last_name(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resources_and_collections() {
        let p = parse(
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
        );
        let ArmPath::Resource(r) = p else {
            panic!("{p:?}")
        };
        assert_eq!(r.type_string(), "Microsoft.Network/virtualNetworks/subnets");
        assert_eq!(r.names, vec!["v", "s"]);
        assert!(!r.is_collection());
        let ArmPath::Resource(c) = parse(
            "/subscriptions/S/resourcegroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets",
        ) else {
            panic!()
        };
        assert!(c.is_collection());
        assert_eq!(
            parse("/subscriptions/S/providers/Microsoft.Network/locations/eastus/operations/abc"),
            ArmPath::Operation {
                sub: "S".into(),
                ns: "Microsoft.Network".into(),
                location: "eastus".into(),
                kind: "operations".into(),
                id: "abc".into()
            }
        );
        assert_eq!(
            parse("/subscriptions/S/resourcegroups/rg"),
            ArmPath::ResourceGroup {
                sub: "S".into(),
                rg: "rg".into()
            }
        );
        assert_eq!(parse("/foo"), ArmPath::Unknown);
        assert_eq!(
            parse("/subscriptions/S/providers/microsoft.insights/EventTypes/management/values/"),
            ArmPath::ActivityLog { sub: "S".into() }
        );
    }

    #[test]
    fn id_helpers() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a";
        assert_eq!(
            parent_id(id).as_deref(),
            Some(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
            )
        );
        assert_eq!(
            root_id(id),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
        );
        assert_eq!(
            parent_id(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
            ),
            None
        );
        assert_eq!(last_name(id), "a");
        assert_eq!(percent_decode("a%2Ab%zz"), "a*b%zz");
    }
}
