//! Runs the constraint catalog for a reconciler: builds the catalog's view of Azure from the
//! bodies a reconcile GETs, and tells which writes an Error finding holds back.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::watch::Snapshot;
use crate::api::{ComputeSubnet, FindingStatus, PrivateEndpointBinding, SecureWorkspace, Severity};
use crate::constraints::{
    self, Finding, Observed, ObservedRegistry, ObservedResource, ObservedRouteTable, ObservedSubnet, ObservedVnet, Scope,
};

/// The findings of one object.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
}

/// The part of the design a desired resource's kind belongs to.
pub fn scope_of(kind: &str) -> Scope {
    match kind {
        "VirtualNetwork" | "Subnet" => Scope::Network,
        "NetworkSecurityGroup" | "SecurityRule" => Scope::Nsg,
        "RouteTable" | "Route" => Scope::Routes,
        "PrivateEndpoint" | "PrivateEndpointBinding" => Scope::Endpoint,
        "PrivateDnsZone" | "VirtualNetworkLink" | "PrivateDnsZoneGroup" => Scope::Dns,
        _ => Scope::Workspace,
    }
}

impl Verdict {
    pub fn status(&self) -> Vec<FindingStatus> {
        self.findings.iter().map(Finding::to_status).collect()
    }

    pub fn errors(&self) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error).collect()
    }

    /// The rule ids of the Error findings, in order.
    pub fn error_ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = self.errors().iter().map(|f| f.rule_id).collect();
        ids.dedup();
        ids
    }

    /// Why every write of the object is held back, when an Error finding holds it: nothing of
    /// an object is half-built (an NSG and its rules exist only for their subnet, a zone only for
    /// its endpoint).
    pub fn held(&self) -> Option<String> {
        let ids = self.error_ids();
        (!ids.is_empty()).then(|| format!("held back by constraint {}", ids.join(", ")))
    }

    /// One line for the ConstraintsSatisfied condition.
    pub fn summary(&self) -> (bool, String) {
        let errors = self.errors();
        if errors.is_empty() {
            let warnings = self.findings.iter().filter(|f| f.severity == Severity::Warning).count();
            (true, format!("no constraint errors, {warnings} warning(s)"))
        } else {
            (false, errors.iter().map(|f| format!("{}: {}", f.rule_id, f.message)).collect::<Vec<_>>().join("; "))
        }
    }

    /// Sets `ConstraintsSatisfied` from this verdict and, when an Error holds the object back,
    /// `Ready` (reason `ConstraintViolation`, naming the rule); returns whether it is held back.
    pub fn set_conditions(&self, conditions: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>, generation: Option<i64>) -> bool {
        use super::conditions as cond;
        let (ok, summary) = self.summary();
        let reason = if ok { "NoErrors" } else { cond::ReadyReason::ConstraintViolation.as_str() };
        cond::set(conditions, cond::condition(cond::CONSTRAINTS_SATISFIED, ok, reason, summary, generation));
        let held = self.held().is_some();
        if held {
            cond::set(conditions, cond::ready(cond::ReadyReason::ConstraintViolation, self.ready_message(), generation));
        }
        held
    }

    /// The Ready condition's message while an Error holds the object back.
    pub fn ready_message(&self) -> String {
        let errors = self.errors();
        let first = errors.first().map(|f| format!(": {}", f.message)).unwrap_or_default();
        format!(
            "constraint {} holds back every Azure write of this object{first}; fix the spec (status.findings has the fix)",
            self.error_ids().join(", ")
        )
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |cur, k| cur.get(*k)).and_then(Value::as_str)
}

fn strings_at(v: &Value, path: &[&str], field: &[&str]) -> Vec<String> {
    path.iter()
        .try_fold(v, |cur, k| cur.get(*k))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| if field.is_empty() { x.as_str() } else { str_at(x, field) })
        .map(str::to_string)
        .collect()
}

/// `{name, ...properties}`: ARM's child shape flattened, as the catalog's rule and route types read it.
fn flatten(child: &Value) -> Value {
    let mut m = Map::new();
    if let Some(n) = child.get("name") {
        m.insert("name".into(), n.clone());
    }
    if let Some(Value::Object(p)) = child.get("properties") {
        m.extend(p.clone());
    }
    Value::Object(m)
}

fn subnet_of(s: &Value) -> ObservedSubnet {
    ObservedSubnet {
        name: s.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        address_prefix: str_at(s, &["properties", "addressPrefix"]).map(str::to_string),
        address_prefixes: strings_at(s, &["properties", "addressPrefixes"], &[]),
        delegations: strings_at(s, &["properties", "delegations"], &["properties", "serviceName"]),
        service_endpoints: strings_at(s, &["properties", "serviceEndpoints"], &["service"]),
        private_endpoint_network_policies: str_at(s, &["properties", "privateEndpointNetworkPolicies"]).map(str::to_string),
        network_security_group_id: str_at(s, &["properties", "networkSecurityGroup", "id"]).map(str::to_string),
        route_table_id: str_at(s, &["properties", "routeTable", "id"]).map(str::to_string),
    }
}

fn is_type(id: &str, t: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    let marker = format!("/providers/{}/", t.to_ascii_lowercase());
    lower.find(&marker).is_some_and(|i| lower[i + marker.len()..].matches('/').count() == 0)
}

/// The catalog's view of what ARM returned (keys are ARM ids; absent resources are skipped).
pub fn observed_from(bodies: &HashMap<String, Option<Value>>) -> Observed {
    let mut o = Observed::default();
    for (id, body) in bodies {
        let Some(b) = body else { continue };
        let location = b.get("location").and_then(Value::as_str).map(str::to_string);
        if is_type(id, "Microsoft.Network/virtualNetworks") {
            let subnets = b.get("properties").and_then(|p| p.get("subnets")).and_then(Value::as_array).map(|a| a.iter().map(subnet_of).collect()).unwrap_or_default();
            o.virtual_networks.insert(
                id.clone(),
                ObservedVnet {
                    location,
                    address_space: strings_at(b, &["properties", "addressSpace", "addressPrefixes"], &[]),
                    dns_servers: strings_at(b, &["properties", "dhcpOptions", "dnsServers"], &[]),
                    subnets,
                },
            );
        } else if is_type(id, "Microsoft.Network/networkSecurityGroups") {
            let rules = b.get("properties").and_then(|p| p.get("securityRules")).and_then(Value::as_array).cloned().unwrap_or_default();
            let security_rules = rules.iter().filter_map(|r| serde_json::from_value(flatten(r)).ok()).collect();
            o.network_security_groups.insert(id.clone(), constraints::ObservedNsg { security_rules });
        } else if is_type(id, "Microsoft.Network/routeTables") {
            let routes = b.get("properties").and_then(|p| p.get("routes")).and_then(Value::as_array).cloned().unwrap_or_default();
            let routes = routes.iter().filter_map(|r| serde_json::from_value(flatten(r)).ok()).collect();
            o.route_tables.insert(id.clone(), ObservedRouteTable { routes });
        } else if is_type(id, "Microsoft.ContainerRegistry/registries") {
            let sku = str_at(b, &["sku", "name"]).map(str::to_string);
            o.container_registries.insert(id.clone(), ObservedRegistry { sku, location });
        } else if is_type(id, "Microsoft.Storage/storageAccounts") {
            o.storage_accounts.insert(id.clone(), ObservedResource { location });
        } else if is_type(id, "Microsoft.KeyVault/vaults") {
            o.key_vaults.insert(id.clone(), ObservedResource { location });
        }
    }
    o
}

/// The catalog's inputs: every object moat watches (from the shared stores), with `me` in place
/// of its own store copy (the reconcile holds the newest one), and what Azure returned.
fn with_self<'a, K: kube::Resource>(list: &mut Vec<&'a K>, me: &'a K) {
    let uid = me.meta().uid.as_deref();
    list.retain(|o| o.meta().uid.as_deref() != uid || uid.is_none());
    list.push(me);
}

/// Findings for a SecureWorkspace, with the same inputs `moat validate --observed` would have.
pub fn workspace(ws: &SecureWorkspace, objects: &Snapshot, observed: &HashMap<String, Option<Value>>) -> Verdict {
    let facts = observed_from(observed);
    let mut inputs = objects.inputs(&facts);
    with_self(&mut inputs.workspaces, ws);
    Verdict { findings: constraints::evaluate_workspace(ws, &inputs) }
}

/// Findings for a PrivateEndpointBinding, with the same inputs `moat validate --observed` would have.
pub fn endpoint(peb: &PrivateEndpointBinding, objects: &Snapshot, observed: &HashMap<String, Option<Value>>) -> Verdict {
    let facts = observed_from(observed);
    let mut inputs = objects.inputs(&facts);
    with_self(&mut inputs.endpoints, peb);
    Verdict { findings: constraints::evaluate_endpoint(peb, &inputs) }
}

/// Findings for a ComputeSubnet, with the same inputs `moat validate --observed` would have.
pub fn compute_subnet(cs: &ComputeSubnet, objects: &Snapshot, observed: &HashMap<String, Option<Value>>) -> Verdict {
    let facts = observed_from(observed);
    let mut inputs = objects.inputs(&facts);
    with_self(&mut inputs.subnets, cs);
    Verdict { findings: constraints::evaluate_compute_subnet(cs, &inputs) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arm_bodies_become_catalog_facts() {
        let vnet = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";
        let nsg = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n";
        let acr = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r";
        let bodies: HashMap<String, Option<Value>> = [
            (vnet.to_string(), Some(json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "a", "properties": {"addressPrefix": "10.0.1.0/24", "delegations": [{"name": "d", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}],
                "serviceEndpoints": [{"service": "Microsoft.Storage"}], "networkSecurityGroup": {"id": nsg}}}]}}))),
            (nsg.to_string(), Some(json!({"properties": {"securityRules": [{"name": "deny-all", "properties": {"priority": 100, "direction": "Inbound", "access": "Deny", "protocol": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}}]}}))),
            (acr.to_string(), Some(json!({"location": "westeurope", "sku": {"name": "Basic"}}))),
            (format!("{vnet}/subnets/a"), None),
        ]
        .into_iter()
        .collect();
        let o = observed_from(&bodies);
        let v = o.vnet(vnet).expect("vnet");
        assert_eq!(v.address_space, vec!["10.0.0.0/16"]);
        assert_eq!(v.subnets[0].delegations, vec!["Microsoft.ContainerInstance/containerGroups"]);
        assert_eq!(v.subnets[0].service_endpoints, vec!["Microsoft.Storage"]);
        assert_eq!(v.subnets[0].network_security_group_id.as_deref(), Some(nsg));
        let rules = &o.nsg(nsg).expect("nsg").security_rules;
        assert_eq!((rules[0].name.as_str(), rules[0].priority, rules[0].access.as_str()), ("deny-all", 100, "Deny"));
        assert_eq!(o.registry(acr).and_then(|r| r.sku.as_deref()), Some("Basic"));
    }

    #[test]
    fn kinds_map_to_the_scopes_findings_block() {
        assert_eq!(scope_of("Subnet"), Scope::Network);
        assert_eq!(scope_of("SecurityRule"), Scope::Nsg);
        assert_eq!(scope_of("Route"), Scope::Routes);
        assert_eq!(scope_of("PrivateDnsZoneGroup"), Scope::Dns);
        assert_eq!(scope_of("Workspace"), Scope::Workspace);
    }
}
