//! The effective scope of one object: which ARM requests it may send, built from its checked
//! inventory. Pure; [`super::ScopedArm`] asks it before every request.

use super::grant::within;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET of a resource or a collection (and polls of operations).
    Read,
    /// PUT or PATCH.
    Write,
    Delete,
}

impl Verb {
    pub fn of_method(method: &str) -> Verb {
        match method.to_ascii_uppercase().as_str() {
            "GET" => Verb::Read,
            "DELETE" => Verb::Delete,
            _ => Verb::Write,
        }
    }
}

/// How far an object may go with one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anything at or under the scope (the object's own resource groups).
    Full,
    /// Read the resource; write and delete only resources under it (its children).
    Children,
    /// Read the resource itself, nothing else.
    Read,
    /// Anything under the resource group that is a private DNS zone or lies under one.
    DnsZones,
    /// Read anything at or under the scope (a fact the catalog needs that the spec does not
    /// name, such as the route table already on the object's subnet), never write.
    ReadUnder,
}

/// One rule: a scope, the access, and the field that brought it (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub scope: String,
    pub access: Access,
    pub field: String,
}

/// The requests one object may send.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EffectiveScope {
    rules: Vec<Rule>,
}

const DNS_ZONES: &str = "/providers/microsoft.network/privatednszones/";

impl EffectiveScope {
    pub fn new(rules: impl IntoIterator<Item = (String, Access, String)>) -> Self {
        Self { rules: rules.into_iter().map(|(scope, access, field)| Rule { scope, access, field }).collect() }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    fn rule_allows(r: &Rule, verb: Verb, id: &str) -> bool {
        let id_l = id.trim_end_matches('/').to_ascii_lowercase();
        let scope_l = r.scope.trim_end_matches('/').to_ascii_lowercase();
        match r.access {
            Access::Full => within(&id_l, &scope_l),
            Access::Children => (id_l == scope_l && verb == Verb::Read) || (id_l != scope_l && within(&id_l, &scope_l)),
            Access::Read => id_l == scope_l && verb == Verb::Read,
            Access::ReadUnder => verb == Verb::Read && within(&id_l, &scope_l),
            Access::DnsZones => {
                within(&id_l, &scope_l) && id_l[scope_l.len()..].starts_with(DNS_ZONES) && id_l.len() > scope_l.len() + DNS_ZONES.len()
            }
        }
    }

    /// `Ok` when some rule allows `verb` on `id`; otherwise why not, naming the scopes the
    /// object may use.
    pub fn check(&self, verb: Verb, id: &str) -> Result<(), String> {
        if self.rules.iter().any(|r| Self::rule_allows(r, verb, id)) {
            return Ok(());
        }
        let allowed: Vec<String> = self.rules.iter().map(|r| format!("{:?} {} ({})", r.access, r.scope, r.field)).collect();
        Err(format!("{verb:?} {id} is outside this object's scope; it may use: {}", allowed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RG: &str = "/subscriptions/s/resourceGroups/rg-a";
    const NSG: &str = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/networkSecurityGroups/n";
    const ST: &str = "/subscriptions/s/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/st";
    const DNS: &str = "/subscriptions/s/resourceGroups/dns";

    fn scope() -> EffectiveScope {
        EffectiveScope::new([
            (RG.into(), Access::Full, "spec.resourceGroup".into()),
            (NSG.into(), Access::Children, "spec.nsg.id".into()),
            (ST.into(), Access::Read, "spec.target.id".into()),
            (DNS.into(), Access::DnsZones, "spec.dns.zoneResourceGroup".into()),
        ])
    }

    #[test]
    fn own_resource_group_allows_everything_under_it_only() {
        let s = scope();
        let vnet = format!("{RG}/providers/Microsoft.Network/virtualNetworks/v");
        for verb in [Verb::Read, Verb::Write, Verb::Delete] {
            assert!(s.check(verb, &vnet).is_ok());
            assert!(s.check(verb, &vnet.to_uppercase()).is_ok(), "ids compare case-insensitively");
        }
        // A prefix of the name is not the same resource group.
        assert!(s.check(Verb::Write, "/subscriptions/s/resourceGroups/rg-ab/providers/Microsoft.Network/virtualNetworks/v").is_err());
        assert!(s.check(Verb::Read, "/subscriptions/s/resourceGroups/other").is_err());
    }

    #[test]
    fn adopted_resource_gets_children_written_never_itself() {
        let s = scope();
        assert!(s.check(Verb::Read, NSG).is_ok());
        assert!(s.check(Verb::Write, NSG).is_err());
        assert!(s.check(Verb::Delete, NSG).is_err());
        let rule = format!("{NSG}/securityRules/moat-in-batch");
        assert!(s.check(Verb::Write, &rule).is_ok());
        assert!(s.check(Verb::Delete, &rule).is_ok());
        // A sibling NSG in the same resource group is not covered.
        assert!(s.check(Verb::Read, &format!("{NSG}2")).is_err());
    }

    #[test]
    fn referenced_resource_is_read_only() {
        let s = scope();
        assert!(s.check(Verb::Read, ST).is_ok());
        assert!(s.check(Verb::Write, ST).is_err());
        assert!(s.check(Verb::Read, &format!("{ST}/blobServices/default")).is_err());
        let e = s.check(Verb::Write, ST).expect_err("refused");
        assert!(e.contains("spec.target.id") && e.contains(ST), "{e}");
    }

    #[test]
    fn dns_zone_group_allows_private_dns_zones_only() {
        let s = scope();
        let zone = format!("{DNS}/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net");
        assert!(s.check(Verb::Write, &zone).is_ok());
        assert!(s.check(Verb::Write, &format!("{zone}/virtualNetworkLinks/moat-v")).is_ok());
        assert!(s.check(Verb::Read, &format!("{zone}/A")).is_ok());
        assert!(s.check(Verb::Write, &format!("{DNS}/providers/Microsoft.Network/virtualNetworks/v")).is_err());
        assert!(s.check(Verb::Write, DNS).is_err());
    }
}
