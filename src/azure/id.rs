//! ARM resource ids.
//!
//! A [`ResourceId`] is parsed once, keeps the caller's casing for display and for the URLs it
//! builds, and compares, hashes and orders ASCII-case-insensitively, as ARM itself does
//! (azure-arm-facts.md §4.5).
//!
//! Grammar handled (segments are separated by `/`, keywords are case-insensitive):
//!
//! ```text
//! [/subscriptions/{sub} [/resourceGroups/{rg}]]
//!     ( /providers/{namespace} /{type}/{name} [/{type}/{name}]* )*
//! ```
//!
//! so subscription, resource-group, tenant-level (`/providers/...`), nested child
//! (`.../virtualNetworks/v/subnets/s`) and extension (`.../vaults/kv/providers/Microsoft.Insights/...`)
//! ids all parse.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a resource id could not be parsed or built. Names the offending segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ARM resource id '{id}': segment {position} ('{segment}'): {reason}")]
pub struct ResourceIdError {
    /// The id (or partial id) as given.
    pub id: String,
    /// 1-based position of the bad segment (0 when the whole id is at fault).
    pub position: usize,
    /// The bad segment's text (may be empty).
    pub segment: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ResourceIdError {
    fn new(id: &str, position: usize, segment: &str, reason: impl Into<String>) -> Self {
        Self {
            id: id.to_string(),
            position,
            segment: segment.to_string(),
            reason: reason.into(),
        }
    }
}

/// One `providers/{namespace}/{type}/{name}...` scope.
#[derive(Debug, Clone)]
struct ProviderScope {
    namespace: String,
    /// (type, name) pairs, outermost first.
    pairs: Vec<(String, String)>,
}

/// A parsed Azure Resource Manager resource id.
#[derive(Clone)]
pub struct ResourceId {
    /// The id exactly as the caller spelled it (without a trailing `/`).
    raw: String,
    /// Lower-cased `raw`, used for equality, hashing and ordering.
    folded: String,
    subscription: Option<String>,
    resource_group: Option<String>,
    scopes: Vec<ProviderScope>,
}

const SUBSCRIPTIONS: &str = "subscriptions";
const RESOURCE_GROUPS: &str = "resourceGroups";
const PROVIDERS: &str = "providers";

fn check_name(id: &str, position: usize, seg: &str, what: &str) -> Result<(), ResourceIdError> {
    if seg.is_empty() {
        return Err(ResourceIdError::new(id, position, seg, format!("empty {what}")));
    }
    // A URL path would resolve these (`a/../b` is `b`): the request would name another resource.
    if seg == "." || seg == ".." {
        return Err(ResourceIdError::new(id, position, seg, format!("{what} '{seg}' is a relative path segment, not a name")));
    }
    if let Some(c) = seg
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#' | '\\'))
    {
        return Err(ResourceIdError::new(
            id,
            position,
            seg,
            format!("{what} contains the character {c:?}, which is not allowed in an ARM id"),
        ));
    }
    Ok(())
}

fn check_namespace(id: &str, position: usize, seg: &str) -> Result<(), ResourceIdError> {
    check_name(id, position, seg, "provider namespace")?;
    // Namespaces are dotted identifiers: Microsoft.Network, Microsoft.MachineLearningServices.
    let ok = seg.contains('.')
        && seg
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !ok {
        return Err(ResourceIdError::new(
            id,
            position,
            seg,
            "a provider namespace looks like 'Microsoft.Network' (dotted, alphanumeric)",
        ));
    }
    Ok(())
}

fn check_type(id: &str, position: usize, seg: &str) -> Result<(), ResourceIdError> {
    check_name(id, position, seg, "resource type")?;
    if !seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ResourceIdError::new(
            id,
            position,
            seg,
            "a resource type segment is alphanumeric (e.g. 'virtualNetworks')",
        ));
    }
    Ok(())
}

impl ResourceId {
    /// Parses an id such as
    /// `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a`.
    pub fn parse(input: &str) -> Result<Self, ResourceIdError> {
        let trimmed = input.strip_suffix('/').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(ResourceIdError::new(input, 0, "", "the id is empty"));
        }
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(ResourceIdError::new(
                input,
                1,
                trimmed.split('/').next().unwrap_or(""),
                "an ARM id starts with '/' (e.g. '/subscriptions/...')",
            ));
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let mut i = 0usize;
        let mut subscription = None;
        let mut resource_group = None;
        let mut scopes: Vec<ProviderScope> = Vec::new();
        // Positions reported are 1-based.
        let seg_at = |i: usize| segs.get(i).copied().unwrap_or("");

        if seg_at(0).eq_ignore_ascii_case(SUBSCRIPTIONS) {
            let sub = segs.get(1).copied().ok_or_else(|| {
                ResourceIdError::new(input, 1, seg_at(0), "'subscriptions' must be followed by a subscription id")
            })?;
            check_name(input, 2, sub, "subscription id")?;
            subscription = Some(sub.to_string());
            i = 2;
            if i < segs.len() && segs[i].eq_ignore_ascii_case(RESOURCE_GROUPS) {
                let rg = segs.get(i + 1).copied().ok_or_else(|| {
                    ResourceIdError::new(
                        input,
                        i + 1,
                        segs[i],
                        "'resourceGroups' must be followed by a resource group name",
                    )
                })?;
                check_name(input, i + 2, rg, "resource group name")?;
                resource_group = Some(rg.to_string());
                i += 2;
            }
        }
        while i < segs.len() {
            let seg = segs[i];
            if !seg.eq_ignore_ascii_case(PROVIDERS) {
                let reason = if seg.is_empty() {
                    "empty segment (doubled '/')".to_string()
                } else if scopes.is_empty() && subscription.is_some() && resource_group.is_none() {
                    "expected 'resourceGroups' or 'providers' here".to_string()
                } else {
                    "expected 'providers' here".to_string()
                };
                return Err(ResourceIdError::new(input, i + 1, seg, reason));
            }
            let ns = segs.get(i + 1).copied().ok_or_else(|| {
                ResourceIdError::new(input, i + 1, seg, "'providers' must be followed by a namespace")
            })?;
            check_namespace(input, i + 2, ns)?;
            i += 2;
            let mut pairs = Vec::new();
            while i < segs.len() && !segs[i].eq_ignore_ascii_case(PROVIDERS) {
                let ty = segs[i];
                check_type(input, i + 1, ty)?;
                let name = segs.get(i + 1).copied().ok_or_else(|| {
                    ResourceIdError::new(input, i + 1, ty, format!("resource type '{ty}' has no name after it"))
                })?;
                check_name(input, i + 2, name, "resource name")?;
                pairs.push((ty.to_string(), name.to_string()));
                i += 2;
            }
            if pairs.is_empty() {
                return Err(ResourceIdError::new(
                    input,
                    i,
                    ns,
                    format!("namespace '{ns}' is not followed by a resource type and name"),
                ));
            }
            scopes.push(ProviderScope {
                namespace: ns.to_string(),
                pairs,
            });
        }
        if subscription.is_none() && scopes.is_empty() {
            return Err(ResourceIdError::new(input, 1, seg_at(0), "expected 'subscriptions' or 'providers'"));
        }
        Ok(Self::from_parts(trimmed.to_string(), subscription, resource_group, scopes))
    }

    fn from_parts(
        raw: String,
        subscription: Option<String>,
        resource_group: Option<String>,
        scopes: Vec<ProviderScope>,
    ) -> Self {
        let folded = raw.to_ascii_lowercase();
        Self {
            raw,
            folded,
            subscription,
            resource_group,
            scopes,
        }
    }

    fn render(subscription: &Option<String>, resource_group: &Option<String>, scopes: &[ProviderScope]) -> String {
        let mut s = String::new();
        if let Some(sub) = subscription {
            s.push_str("/subscriptions/");
            s.push_str(sub);
            if let Some(rg) = resource_group {
                s.push_str("/resourceGroups/");
                s.push_str(rg);
            }
        }
        for scope in scopes {
            s.push_str("/providers/");
            s.push_str(&scope.namespace);
            for (t, n) in &scope.pairs {
                s.push('/');
                s.push_str(t);
                s.push('/');
                s.push_str(n);
            }
        }
        s
    }

    /// The id of a resource group.
    pub fn resource_group_id(subscription: &str, resource_group: &str) -> Result<Self, ResourceIdError> {
        Self::parse(&format!("/subscriptions/{subscription}/resourceGroups/{resource_group}"))
    }

    /// Builds a resource id in a resource group.
    ///
    /// `resource_type` is the full type (`Microsoft.Network/virtualNetworks/subnets`) and `names`
    /// has one name per type segment (`["vnet1", "snet-pe"]`).
    pub fn new_in_group(
        subscription: &str,
        resource_group: &str,
        resource_type: &str,
        names: &[&str],
    ) -> Result<Self, ResourceIdError> {
        let mut parts = resource_type.split('/');
        let ns = parts.next().unwrap_or("");
        let types: Vec<&str> = parts.collect();
        if types.len() != names.len() {
            return Err(ResourceIdError::new(
                resource_type,
                0,
                resource_type,
                format!(
                    "resource type has {} type segment(s) but {} name(s) were given",
                    types.len(),
                    names.len()
                ),
            ));
        }
        let mut s = format!("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{ns}");
        for (t, n) in types.iter().zip(names) {
            s.push('/');
            s.push_str(t);
            s.push('/');
            s.push_str(n);
        }
        Self::parse(&s)
    }

    /// The id as the caller spelled it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The subscription id, if the id is subscription-scoped.
    pub fn subscription(&self) -> Option<&str> {
        self.subscription.as_deref()
    }

    /// The resource group name, if any.
    pub fn resource_group(&self) -> Option<&str> {
        self.resource_group.as_deref()
    }

    /// The namespace of the innermost provider scope (`Microsoft.Network`).
    pub fn provider(&self) -> Option<&str> {
        self.scopes.last().map(|s| s.namespace.as_str())
    }

    /// The full resource type, e.g. `Microsoft.Network/virtualNetworks/subnets`.
    /// Resource groups and subscriptions report `Microsoft.Resources/resourceGroups` and
    /// `Microsoft.Resources/subscriptions`.
    pub fn resource_type(&self) -> Cow<'_, str> {
        match self.scopes.last() {
            Some(scope) => {
                let mut s = scope.namespace.clone();
                for (t, _) in &scope.pairs {
                    s.push('/');
                    s.push_str(t);
                }
                Cow::Owned(s)
            }
            None if self.resource_group.is_some() => Cow::Borrowed("Microsoft.Resources/resourceGroups"),
            None => Cow::Borrowed("Microsoft.Resources/subscriptions"),
        }
    }

    /// Case-insensitive comparison of [`Self::resource_type`] with `ty`.
    pub fn is_type(&self, ty: &str) -> bool {
        self.resource_type().eq_ignore_ascii_case(ty)
    }

    /// The last name in the id (resource, resource group or subscription).
    pub fn name(&self) -> &str {
        if let Some((_, n)) = self.scopes.last().and_then(|s| s.pairs.last()) {
            return n;
        }
        self.resource_group
            .as_deref()
            .or(self.subscription.as_deref())
            .unwrap_or("")
    }

    /// True for a child resource such as a subnet (more than one type segment in the last scope).
    pub fn is_child(&self) -> bool {
        self.scopes.last().is_some_and(|s| s.pairs.len() > 1)
    }

    /// The parent: a subnet's VNet, a top-level resource's resource group, a resource group's
    /// subscription, an extension resource's extended resource. `None` for a subscription or a
    /// tenant-level top resource.
    pub fn parent(&self) -> Option<ResourceId> {
        let mut scopes = self.scopes.clone();
        let (mut sub, mut rg) = (self.subscription.clone(), self.resource_group.clone());
        if let Some(last) = scopes.last_mut() {
            last.pairs.pop();
            if last.pairs.is_empty() {
                scopes.pop();
            }
        } else if rg.is_some() {
            rg = None;
        } else {
            sub = None;
        }
        if sub.is_none() && scopes.is_empty() {
            return None;
        }
        let raw = Self::render(&sub, &rg, &scopes);
        Some(Self::from_parts(raw, sub, rg, scopes))
    }

    /// A child of this resource: `vnet.child("subnets", "snet-pe")`.
    pub fn child(&self, child_type: &str, name: &str) -> Result<ResourceId, ResourceIdError> {
        if self.scopes.is_empty() {
            return Err(ResourceIdError::new(
                &self.raw,
                0,
                child_type,
                "a child needs a provider resource as parent (this id is a subscription or resource group)",
            ));
        }
        Self::parse(&format!("{}/{child_type}/{name}", self.raw))
    }

    /// The id of this resource's resource group, if it has one.
    pub fn resource_group_scope(&self) -> Option<ResourceId> {
        let (sub, rg) = (self.subscription.clone()?, self.resource_group.clone()?);
        let raw = Self::render(&Some(sub.clone()), &Some(rg.clone()), &[]);
        Some(Self::from_parts(raw, Some(sub), Some(rg), Vec::new()))
    }

    /// The path segments of the id in the caller's casing, for building URLs
    /// (each segment is percent-encoded by the URL builder).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.raw.trim_start_matches('/').split('/')
    }

    /// Case-insensitive comparison with a string id (no parsing needed).
    pub fn eq_str(&self, other: &str) -> bool {
        self.folded == other.strip_suffix('/').unwrap_or(other).to_ascii_lowercase()
    }

    /// True when `self` is `other` or lies underneath it (same or deeper scope).
    pub fn is_within(&self, other: &ResourceId) -> bool {
        self.folded == other.folded
            || (self.folded.starts_with(&other.folded) && self.folded.as_bytes().get(other.folded.len()) == Some(&b'/'))
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceId({})", self.raw)
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}
impl Eq for ResourceId {}

impl Hash for ResourceId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}

impl PartialOrd for ResourceId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ResourceId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.folded.cmp(&other.folded)
    }
}

impl FromStr for ResourceId {
    type Err = ResourceIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for ResourceId {
    type Error = ResourceIdError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ResourceId {
    type Error = ResourceIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl AsRef<str> for ResourceId {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        ResourceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for ResourceId {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("ArmResourceId")
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An Azure Resource Manager resource id (/subscriptions/.../providers/...)."
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn relative_segments_are_refused_not_resolved() {
        for bad in [
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/..",
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/../providers/Microsoft.Network/virtualNetworks/v",
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/.",
        ] {
            let e = ResourceId::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("relative path segment"), "{bad}: {e}");
        }
    }
    use super::*;
    use std::collections::HashSet;

    const SUBNET: &str =
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/RG-Net/providers/Microsoft.Network/virtualNetworks/VNet1/subnets/snet-PE";

    #[test]
    fn parses_nested_child() {
        let id = ResourceId::parse(SUBNET).unwrap();
        assert_eq!(id.subscription(), Some("00000000-0000-0000-0000-000000000001"));
        assert_eq!(id.resource_group(), Some("RG-Net"));
        assert_eq!(id.provider(), Some("Microsoft.Network"));
        assert_eq!(id.resource_type(), "Microsoft.Network/virtualNetworks/subnets");
        assert_eq!(id.name(), "snet-PE");
        assert!(id.is_child());
        assert_eq!(id.to_string(), SUBNET);
        let vnet = id.parent().unwrap();
        assert_eq!(vnet.resource_type(), "Microsoft.Network/virtualNetworks");
        assert_eq!(vnet.name(), "VNet1");
        assert!(!vnet.is_child());
        let rg = vnet.parent().unwrap();
        assert_eq!(rg.resource_type(), "Microsoft.Resources/resourceGroups");
        assert_eq!(rg.name(), "RG-Net");
        let sub = rg.parent().unwrap();
        assert_eq!(sub.resource_type(), "Microsoft.Resources/subscriptions");
        assert!(sub.parent().is_none());
        assert_eq!(vnet.child("subnets", "snet-PE").unwrap(), id);
        assert!(id.is_within(&vnet));
        assert!(!vnet.is_within(&id));
    }

    #[test]
    fn case_insensitive_equality_keeps_casing() {
        let a = ResourceId::parse(SUBNET).unwrap();
        let b = ResourceId::parse(&SUBNET.to_lowercase().replace("resourcegroups", "RESOURCEGROUPS")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Equal);
        let set: HashSet<_> = [a.clone(), b.clone()].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert_eq!(a.to_string(), SUBNET);
        assert!(b.to_string().contains("RESOURCEGROUPS"));
        assert!(a.eq_str(&SUBNET.to_uppercase()));
        assert!(a.is_type("microsoft.network/VIRTUALNETWORKS/subnets"));
    }

    #[test]
    fn builds_and_serdes_as_string() {
        let id = ResourceId::new_in_group("s", "rg", "Microsoft.Network/virtualNetworks/subnets", &["v", "a"]).unwrap();
        assert_eq!(
            id.as_str(),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
        );
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: ResourceId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ResourceId>("\"/subscriptions/s/resourceGroups\"").is_err());
        assert!(ResourceId::new_in_group("s", "rg", "Microsoft.Network/virtualNetworks/subnets", &["v"]).is_err());
        assert_eq!(id.resource_group_scope().unwrap().as_str(), "/subscriptions/s/resourceGroups/rg");
    }

    #[test]
    fn trailing_slash_and_extension_and_tenant_ids() {
        let id = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Insights/diagnosticSettings/d/").unwrap();
        assert_eq!(id.resource_type(), "Microsoft.Insights/diagnosticSettings");
        assert_eq!(id.provider(), Some("Microsoft.Insights"));
        assert_eq!(id.name(), "d");
        assert_eq!(id.parent().unwrap().resource_type(), "Microsoft.KeyVault/vaults");
        let t = ResourceId::parse("/providers/Microsoft.Management/managementGroups/mg1").unwrap();
        assert_eq!(t.subscription(), None);
        assert!(t.parent().is_none());
        let loc = ResourceId::parse("/subscriptions/s/providers/Microsoft.Network/locations/eastus/operations/op1").unwrap();
        assert_eq!(loc.resource_group(), None);
        assert_eq!(loc.resource_type(), "Microsoft.Network/locations/operations");
        // A private DNS zone name contains dots.
        let z = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms").unwrap();
        assert_eq!(z.name(), "privatelink.api.azureml.ms");
    }

    fn err(s: &str) -> ResourceIdError {
        ResourceId::parse(s).expect_err(s)
    }

    #[test]
    fn malformed_ids_name_the_segment() {
        let e = err("");
        assert!(e.reason.contains("empty"));
        let e = err("subscriptions/s");
        assert_eq!(e.position, 1);
        assert!(e.to_string().contains("starts with '/'"), "{e}");
        let e = err("/subscriptions");
        assert_eq!(e.segment, "subscriptions");
        let e = err("/subscriptions/s/resourcegroups/rg/providers/Microsoft.Network/virtualNetworks");
        assert_eq!(e.segment, "virtualNetworks");
        assert!(e.reason.contains("no name"), "{e}");
        let e = err("/subscriptions/s/resourceGroups/rg/provider/Microsoft.Network/virtualNetworks/v");
        assert_eq!(e.segment, "provider");
        assert_eq!(e.position, 5);
        let e = err("/subscriptions/s/resourceGroups/rg/providers/Network/virtualNetworks/v");
        assert_eq!(e.segment, "Network");
        let e = err("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks//subnets/x");
        assert_eq!(e.position, 8);
        assert!(e.reason.contains("empty"), "{e}");
        let e = err("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v?x=1");
        assert_eq!(e.segment, "v?x=1");
        let e = err("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network");
        assert!(e.reason.contains("not followed"), "{e}");
        let e = err("/subscriptions/s/foo/bar");
        assert_eq!(e.segment, "foo");
        assert!(e.reason.contains("resourceGroups"), "{e}");
        let e = err("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtual Networks/v");
        assert_eq!(e.segment, "virtual Networks");
    }
}
