//! What the `AzureScopePolicy` objects grant a namespace, and the check of an object's
//! inventory against it. Pure.
//!
//! Semantics: every policy that selects the namespace (by name or by label) contributes; the
//! grant is their union (as Kubernetes RBAC adds up role bindings). No selecting policy: nothing
//! is granted. `--allowed-subscriptions` caps every grant.

use std::collections::BTreeMap;

use kube::core::{Selector, SelectorExt};

use super::inventory::{Named, Subject, Usage};
use super::scope::{Access, EffectiveScope};
use crate::api::{AzureScopePolicy, NamespacedSecretRef};
use crate::controller::conditions::ReadyReason;

/// What the matching policies grant one namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// Names of the policies that select the namespace, sorted.
    pub policies: Vec<String>,
    pub scopes: Vec<String>,
    pub adopt: Vec<String>,
    pub target: Vec<String>,
    pub dns_zone_resource_groups: Vec<String>,
    /// Some policy lets objects use moat's own identity.
    pub operator_identity: bool,
    /// Secrets the policies name for objects without a credentialRef, with the policy naming each.
    pub secrets: Vec<(NamespacedSecretRef, String)>,
}

/// Whether the policy selects a namespace with these labels. A label selector that cannot be
/// parsed selects nothing (the CRD schema already rejects the usual mistakes).
pub fn selects(policy: &AzureScopePolicy, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
    let sel = &policy.spec.namespaces;
    if sel.names.iter().any(|n| n == namespace) {
        return true;
    }
    match &sel.selector {
        Some(s) if s.match_labels.as_ref().is_some_and(|m| !m.is_empty()) || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) => {
            Selector::try_from(s.clone()).is_ok_and(|s| s.matches(labels))
        }
        // An empty selector would select everything: refused by the schema, and here too.
        _ => false,
    }
}

/// The union of what the policies selecting `namespace` grant; `None` when none selects it.
pub fn grant_for<'a>(namespace: &str, labels: &BTreeMap<String, String>, policies: impl IntoIterator<Item = &'a AzureScopePolicy>) -> Option<Grant> {
    let mut g = Grant::default();
    for p in policies.into_iter().filter(|p| selects(p, namespace, labels)) {
        let name = p.metadata.name.clone().unwrap_or_default();
        let s = &p.spec;
        g.scopes.extend(s.scopes.iter().map(|x| x.0.clone()));
        g.adopt.extend(s.adopt.iter().map(|x| x.0.clone()));
        g.target.extend(s.target.iter().map(|x| x.0.clone()));
        g.dns_zone_resource_groups.extend(s.dns_zone_resource_groups.iter().map(|x| x.0.clone()));
        g.operator_identity |= s.identity.allow_operator_identity;
        if let Some(r) = &s.identity.secret_ref
            && !g.secrets.iter().any(|(x, _)| x == r)
        {
            g.secrets.push((r.clone(), name.clone()));
        }
        g.policies.push(name);
    }
    if g.policies.is_empty() {
        return None;
    }
    g.policies.sort();
    for list in [&mut g.scopes, &mut g.adopt, &mut g.target, &mut g.dns_zone_resource_groups] {
        list.sort_by_key(|s| s.to_ascii_lowercase());
        list.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    }
    Some(g)
}

/// True when `id` is `scope` or lies under it (ARM ids compare case-insensitively).
pub fn within(id: &str, scope: &str) -> bool {
    let (id, scope) = (id.trim_end_matches('/').to_ascii_lowercase(), scope.trim_end_matches('/').to_ascii_lowercase());
    id == scope || (id.starts_with(&scope) && id.as_bytes().get(scope.len()) == Some(&b'/'))
}

fn subscription_of(id: &str) -> &str {
    crate::plan::ids::segment(id, "subscriptions").unwrap_or_default()
}

/// The operator-wide cap (`--allowed-subscriptions`): empty or `*` allows every subscription.
pub fn capped(cap: &[String], id: &str) -> bool {
    cap.is_empty() || cap.iter().any(|s| s == "*" || s.eq_ignore_ascii_case(subscription_of(id)))
}

impl Grant {
    fn list(&self, field: &str) -> &[String] {
        match field {
            "scopes" => &self.scopes,
            "adopt" => &self.adopt,
            "target" => &self.target,
            "dnsZoneResourceGroups" => &self.dns_zone_resource_groups,
            _ => &[],
        }
    }

    /// Whether this grant allows the usage of `id`.
    pub fn allows(&self, usage: Usage, id: &str) -> bool {
        usage.granted_by().iter().any(|f| self.list(f).iter().any(|s| within(id, s)))
    }
}

/// Where an object's credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// moat's own identity.
    Operator,
    /// A Secret: the object's `credentialRef` (in its namespace) or a policy's `secretRef`.
    Secret { namespace: String, name: String },
}

/// Why an object gets no ARM access: the Ready reason and a message that names the field, the
/// id and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub reason: ReadyReason,
    pub message: String,
}

impl Refusal {
    pub fn out_of_scope(message: impl Into<String>) -> Self {
        Self { reason: ReadyReason::OutOfScope, message: message.into() }
    }
}

/// What an object may do: its request guard and its credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub scope: EffectiveScope,
    pub credential: Credential,
}

fn no_policy(namespace: &str) -> Refusal {
    Refusal::out_of_scope(format!(
        "no AzureScopePolicy selects namespace {namespace}, so moat touches nothing in Azure for it: ask the platform team for an AzureScopePolicy that lists {namespace} in spec.namespaces.names (or selects it by label) with the subscriptions and resource groups this team may use (see docs/tenancy.md)"
    ))
}

fn shown(list: &[String]) -> String {
    if list.is_empty() { "nothing".into() } else { list.join(", ") }
}

/// Why one named scope is refused, naming the field, the id and the fix.
fn violation(namespace: &str, grant: &Grant, cap: &[String], n: &Named) -> Option<String> {
    if !capped(cap, &n.id) {
        return Some(format!(
            "{}: {} is in subscription {}, which is not in the operator's --allowed-subscriptions ({}): use a resource in an allowed subscription, or ask the platform team to add it to allowedSubscriptions",
            n.field,
            n.id,
            subscription_of(&n.id),
            cap.join(", ")
        ));
    }
    if grant.allows(n.usage, &n.id) {
        return None;
    }
    let fields = n.usage.granted_by();
    let granted: Vec<String> = fields.iter().map(|f| format!("{f}: {}", shown(grant.list(f)))).collect();
    Some(format!(
        "{}: {} is out of scope for namespace {namespace} ({}; the policies {} grant {}): use one inside those scopes, or ask the platform team to add it (or its resource group) to spec.{} of an AzureScopePolicy that selects {namespace}",
        n.field,
        n.id,
        n.usage.describe(),
        grant.policies.join(", "),
        granted.join("; "),
        fields[0],
    ))
}

/// Which credentials the object uses, or why it has none it may use.
fn credential(namespace: &str, grant: &Grant, subject: &Subject<'_>) -> Result<Credential, String> {
    if let Some(r) = subject.credential_ref() {
        return Ok(Credential::Secret { namespace: namespace.to_string(), name: r.name.clone() });
    }
    match grant.secrets.as_slice() {
        [(one, _)] => return Ok(Credential::Secret { namespace: one.namespace.clone(), name: one.name.clone() }),
        [] => {}
        many => {
            let named: Vec<String> = many.iter().map(|(r, p)| format!("{}/{} (policy {p})", r.namespace, r.name)).collect();
            return Err(format!(
                "{}: not set, and the policies selecting namespace {namespace} name different Secrets ({}): set {} to a Secret in {namespace}, or ask the platform team to keep one identity.secretRef",
                subject.credential_field(),
                named.join(", "),
                subject.credential_field()
            ));
        }
    }
    if grant.operator_identity {
        return Ok(Credential::Operator);
    }
    Err(format!(
        "{}: not set, and the policies selecting namespace {namespace} ({}) do not let it use moat's own identity: set {} to a Secret in {namespace} holding tenantId, clientId and clientSecret or federatedTokenFile, or ask the platform team for identity.allowOperatorIdentity or identity.secretRef",
        subject.credential_field(),
        grant.policies.join(", "),
        subject.credential_field()
    ))
}

fn access(usage: Usage) -> Access {
    match usage {
        Usage::Create => Access::Full,
        Usage::WriteChildren => Access::Children,
        Usage::Link | Usage::Target => Access::Read,
        Usage::DnsZones => Access::DnsZones,
    }
}

/// Checks every scope the object names against the grant (and the cap) and picks its
/// credentials. `Err` lists every problem at once.
pub fn decide(namespace: &str, grant: Option<&Grant>, cap: &[String], subject: &Subject<'_>) -> Result<Decision, Refusal> {
    let Some(grant) = grant else { return Err(no_policy(namespace)) };
    let inventory = subject.inventory();
    let mut problems: Vec<String> = inventory.iter().filter_map(|n| violation(namespace, grant, cap, n)).collect();
    let credential = credential(namespace, grant, subject).map_err(|e| problems.push(e)).ok();
    match credential {
        Some(credential) if problems.is_empty() => {
            // What the spec names, with the access its use needs; and, read only, whatever the
            // namespace's policies grant (within the cap): the facts a reconcile reads without
            // the spec naming them, such as the route table already on its subnet.
            let reads = grant
                .scopes
                .iter()
                .chain(&grant.adopt)
                .chain(&grant.target)
                .filter(|s| capped(cap, s))
                .map(|s| (s.clone(), Access::ReadUnder, "the namespace's AzureScopePolicy (read only)".to_string()));
            let scope = EffectiveScope::new(inventory.iter().map(|n| (n.id.clone(), access(n.usage), n.field.clone())).chain(reads));
            Ok(Decision { scope, credential })
        }
        _ => Err(Refusal::out_of_scope(problems.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AzureScopePolicySpec, IdentityPolicy, NamespaceSelection, PrivateEndpointBindingSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::json;

    const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

    fn rg(name: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/{name}")
    }

    fn policy(name: &str, spec: serde_json::Value) -> AzureScopePolicy {
        let spec: AzureScopePolicySpec = serde_json::from_value(spec).expect("policy spec");
        AzureScopePolicy::new(name, spec)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn binding(target_rg: &str, credential: bool) -> PrivateEndpointBindingSpec {
        serde_json::from_value(json!({
            "target": {"id": format!("{}/providers/Microsoft.Storage/storageAccounts/st", rg(target_rg)), "groupId": "blob"},
            "subnetId": format!("{}/providers/Microsoft.Network/virtualNetworks/v/subnets/pe", rg("rg-a")),
            "location": "westeurope",
            "credentialRef": if credential { json!({"name": "sp"}) } else { json!(null) },
        }))
        .expect("binding")
    }

    #[test]
    fn no_selecting_policy_grants_nothing_and_says_whom_to_ask() {
        let other = policy("team-b", json!({"namespaces": {"names": ["team-b"]}, "scopes": [rg("rg-b")]}));
        assert_eq!(grant_for("team-a", &labels(&[]), [&other]), None);
        let spec = binding("rg-a", true);
        let r = decide("team-a", None, &[], &Subject::Endpoint(&spec)).expect_err("refused");
        assert_eq!(r.reason, ReadyReason::OutOfScope);
        assert!(r.message.contains("no AzureScopePolicy selects namespace team-a") && r.message.contains("platform team"), "{}", r.message);
    }

    #[test]
    fn policies_selecting_a_namespace_add_up() {
        let by_name = policy("team-a", json!({"namespaces": {"names": ["team-a"]}, "scopes": [rg("rg-a")]}));
        let by_label = policy(
            "shared-data",
            json!({"namespaces": {"selector": {"matchLabels": {"moat.dev/tenant": "true"}}}, "target": [rg("rg-data")], "identity": {"allowOperatorIdentity": true}}),
        );
        let unrelated = policy("team-b", json!({"namespaces": {"names": ["team-b"]}, "scopes": [rg("rg-b")]}));
        let tenant = labels(&[("moat.dev/tenant", "true")]);
        let g = grant_for("team-a", &tenant, [&by_name, &by_label, &unrelated]).expect("granted");
        assert_eq!(g.policies, vec!["shared-data", "team-a"]);
        assert!(g.operator_identity);
        // The target in rg-data comes from one policy, the endpoint's resource group from the other.
        let spec = binding("rg-data", false);
        let d = decide("team-a", Some(&g), &[], &Subject::Endpoint(&spec)).expect("allowed by the union");
        assert_eq!(d.credential, Credential::Operator);
        // Without the label, only the by-name policy applies: the target is out of scope and the
        // operator identity is not granted.
        let g = grant_for("team-a", &labels(&[]), [&by_name, &by_label]).expect("granted");
        let r = decide("team-a", Some(&g), &[], &Subject::Endpoint(&spec)).expect_err("refused");
        assert!(r.message.contains("spec.target.id") && r.message.contains("rg-data") && r.message.contains("spec.target"), "{}", r.message);
        assert!(r.message.contains("spec.credentialRef: not set"), "{}", r.message);
    }

    #[test]
    fn another_tenants_resource_group_is_refused_naming_field_id_and_fix() {
        let a = policy("team-a", json!({"namespaces": {"names": ["team-a"]}, "scopes": [rg("rg-a")], "identity": {"allowOperatorIdentity": true}}));
        let g = grant_for("team-a", &labels(&[]), [&a]).expect("granted");
        let spec = binding("rg-b", false);
        let r = decide("team-a", Some(&g), &[], &Subject::Endpoint(&spec)).expect_err("refused");
        let target = format!("{}/providers/Microsoft.Storage/storageAccounts/st", rg("rg-b"));
        assert!(r.message.starts_with(&format!("spec.target.id: {target} is out of scope for namespace team-a")), "{}", r.message);
        assert!(r.message.contains("ask the platform team to add it"), "{}", r.message);
    }

    #[test]
    fn the_operator_cap_applies_to_every_field() {
        let a = policy("team-a", json!({"namespaces": {"names": ["team-a"]}, "scopes": [format!("/subscriptions/{SUB}")], "identity": {"allowOperatorIdentity": true}}));
        let g = grant_for("team-a", &labels(&[]), [&a]).expect("granted");
        let spec = binding("rg-b", false);
        assert!(decide("team-a", Some(&g), &["*".into()], &Subject::Endpoint(&spec)).is_ok());
        let r = decide("team-a", Some(&g), &["00000000-0000-0000-0000-000000000001".into()], &Subject::Endpoint(&spec)).expect_err("capped");
        assert!(r.message.contains("--allowed-subscriptions"), "{}", r.message);
    }

    #[test]
    fn credentials_follow_the_object_then_the_policy() {
        let shared = policy(
            "team-a",
            json!({"namespaces": {"names": ["team-a"]}, "scopes": [rg("rg-a")], "identity": {"secretRef": {"namespace": "moat-system", "name": "team-a-sp"}}}),
        );
        let g = grant_for("team-a", &labels(&[]), [&shared]).expect("granted");
        let without = binding("rg-a", false);
        let d = decide("team-a", Some(&g), &[], &Subject::Endpoint(&without)).expect("allowed");
        assert_eq!(d.credential, Credential::Secret { namespace: "moat-system".into(), name: "team-a-sp".into() });
        let with = binding("rg-a", true);
        let d = decide("team-a", Some(&g), &[], &Subject::Endpoint(&with)).expect("allowed");
        assert_eq!(d.credential, Credential::Secret { namespace: "team-a".into(), name: "sp".into() });

        let second = policy(
            "team-a-extra",
            json!({"namespaces": {"names": ["team-a"]}, "identity": {"secretRef": {"namespace": "moat-system", "name": "other-sp"}}}),
        );
        let g = grant_for("team-a", &labels(&[]), [&shared, &second]).expect("granted");
        let r = decide("team-a", Some(&g), &[], &Subject::Endpoint(&without)).expect_err("ambiguous");
        assert!(r.message.contains("name different Secrets"), "{}", r.message);
    }

    #[test]
    fn an_empty_selector_selects_nothing() {
        let mut p = policy("all", json!({"namespaces": {"names": ["x"]}, "scopes": [rg("rg-a")]}));
        p.spec.namespaces = NamespaceSelection { names: vec![], selector: Some(LabelSelector::default()) };
        assert!(!selects(&p, "team-a", &labels(&[("a", "b")])));
        p.spec.identity = IdentityPolicy::default();
        let all = policy(
            "all",
            json!({"namespaces": {"selector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "Exists"}]}}}),
        );
        assert!(selects(&all, "team-a", &labels(&[("kubernetes.io/metadata.name", "team-a")])));
    }

    #[test]
    fn scope_matching_is_per_segment_and_case_insensitive() {
        assert!(within(&format!("{}/providers/X.Y/z/n", rg("RG-A")), &rg("rg-a")));
        assert!(!within(&rg("rg-ab"), &rg("rg-a")));
        assert!(within(&rg("rg-a"), &format!("/subscriptions/{SUB}/")));
    }
}
