//! Desired Azure resources of a ComputeSubnet: its NSG and the documented rules (as children),
//! the route table and forced-tunneling routes, and the subnet itself, attached to both once
//! the rules are in place.

use serde_json::{Value, json};

use super::decide::{Desired, Mode, UpdateStyle};
use super::ids::{self, NSG, ROUTE_TABLE};
use super::ownership::{Owner, is_moat_child};
use crate::api::{ComputePurpose, ComputeSubnetSpec, ConnectivityMode, SecureWorkspaceSpec};
use crate::netrules::{self, DesiredRoute, DesiredSecurityRule};

/// Ids of a compute subnet's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetIds {
    pub vnet: String,
    pub subnet: String,
    pub nsg: String,
    pub route_table: Option<String>,
}

impl SubnetIds {
    pub fn of(spec: &ComputeSubnetSpec, ws: &SecureWorkspaceSpec) -> Self {
        let sub = ws.subscription_id.as_str();
        let rg = ws.resource_group.as_str();
        let vnet = spec.vnet_id.as_ref().map(|v| v.0.clone()).unwrap_or_else(|| ids::WorkspaceIds::of(ws).vnet);
        let nsg = match (&spec.nsg.id, &spec.nsg.name) {
            (Some(id), _) => id.0.clone(),
            (None, Some(n)) => ids::resource(sub, rg, NSG, n),
            (None, None) => ids::resource(sub, rg, NSG, &format!("{}-nsg", spec.name)),
        };
        let route_table = spec.forced_tunneling.as_ref().map(|ft| match (&ft.route_table_id, &ft.route_table_name) {
            (Some(id), _) => id.0.clone(),
            (None, Some(n)) => ids::resource(sub, rg, ROUTE_TABLE, n),
            (None, None) => ids::resource(sub, rg, ROUTE_TABLE, &format!("{}-rt", spec.name)),
        });
        Self { subnet: format!("{vnet}/subnets/{}", spec.name), vnet, nsg, route_table }
    }
}

/// The rules and routes moat manages, from the single documented source (`netrules`), with the
/// priorities settled against the NSG as it is (`existing_nsg`, a GET body), when known.
pub fn rules_and_routes(spec: &ComputeSubnetSpec, ws: &SecureWorkspaceSpec, existing_nsg: Option<&Value>) -> (Vec<DesiredSecurityRule>, Vec<DesiredRoute>) {
    let ctx = netrules::Context {
        region: ws.location.as_str(),
        storage_via_service_endpoint: ws.connectivity.mode == ConnectivityMode::ServiceEndpoint,
    };
    let mut rules = netrules::security_rules(spec, ctx);
    if let Some(nsg) = existing_nsg {
        netrules::settle_priorities(&mut rules, &netrules::existing_rules(nsg));
    }
    (rules, netrules::routes(spec, ctx))
}

fn rule_body(r: &DesiredSecurityRule) -> Value {
    let mut props = json!({
        "priority": r.priority,
        "direction": r.direction.to_string(),
        "access": r.access.to_string(),
        "protocol": r.protocol.as_arm(),
        "sourceAddressPrefix": r.source_address_prefix,
        "sourcePortRange": r.source_port_range,
        "destinationAddressPrefix": r.destination_address_prefix,
        "description": r.description,
    });
    match r.destination_port_ranges.as_slice() {
        [one] => props["destinationPortRange"] = json!(one),
        many => props["destinationPortRanges"] = json!(many),
    }
    json!({ "properties": props })
}

fn route_body(r: &DesiredRoute) -> Value {
    let mut props = json!({"addressPrefix": r.address_prefix, "nextHopType": r.next_hop_type});
    if let Some(ip) = &r.next_hop_ip {
        props["nextHopIpAddress"] = json!(ip);
    }
    json!({ "properties": props })
}

fn delegation(purpose: ComputePurpose) -> Option<&'static str> {
    match purpose {
        ComputePurpose::ContainerInstances => Some("Microsoft.ContainerInstance/containerGroups"),
        ComputePurpose::Databricks => Some("Microsoft.Databricks/workspaces"),
        _ => None,
    }
}

/// Every Azure resource of the compute subnet, with dependencies. `existing_nsg` is the NSG as a
/// GET returned it, when known: rule priorities are settled against it.
pub fn desired(
    spec: &ComputeSubnetSpec,
    ws: &SecureWorkspaceSpec,
    owner: &Owner,
    tags_extra: &std::collections::BTreeMap<String, String>,
    existing_nsg: Option<&Value>,
) -> Vec<Desired> {
    let ids = SubnetIds::of(spec, ws);
    let loc = ws.location.as_str();
    let tags = owner.tags(tags_extra);
    let (rules, routes) = rules_and_routes(spec, ws, existing_nsg);
    let mut out = Vec::new();
    let container = |kind: &'static str, id: &str, adopted: bool| {
        if adopted {
            Desired { kind, id: id.into(), mode: Mode::Adopt, body: Value::Null, managed: Value::Null, update: UpdateStyle::MergePut, deps: vec![] }
        } else {
            Desired {
                kind,
                id: id.into(),
                mode: Mode::Create,
                body: json!({"location": loc, "tags": tags}),
                managed: json!({"tags": tags}),
                update: UpdateStyle::MergePut,
                deps: vec![],
            }
        }
    };
    out.push(container("NetworkSecurityGroup", &ids.nsg, spec.nsg.id.is_some()));
    let mut subnet_deps = vec![ids.nsg.clone()];
    for r in &rules {
        let id = format!("{}/securityRules/{}", ids.nsg, r.name);
        let body = rule_body(r);
        subnet_deps.push(id.clone());
        out.push(Desired { kind: "SecurityRule", id, mode: Mode::Child, managed: body.clone(), body, update: UpdateStyle::MergePut, deps: vec![ids.nsg.clone()] });
    }
    if let (Some(rt), Some(ft)) = (&ids.route_table, &spec.forced_tunneling) {
        out.push(container("RouteTable", rt, ft.route_table_id.is_some()));
        subnet_deps.push(rt.clone());
        for r in &routes {
            let id = format!("{rt}/routes/{}", r.name);
            let body = route_body(r);
            subnet_deps.push(id.clone());
            out.push(Desired { kind: "Route", id, mode: Mode::Child, managed: body.clone(), body, update: UpdateStyle::MergePut, deps: vec![rt.clone()] });
        }
    }
    let mut props = json!({"addressPrefix": spec.address_prefix.as_str(), "networkSecurityGroup": {"id": ids.nsg}});
    if let Some(rt) = &ids.route_table {
        props["routeTable"] = json!({"id": rt});
    }
    if let Some(service) = delegation(spec.purpose) {
        props["delegations"] = json!([{"name": "moat-delegation", "properties": {"serviceName": service}}]);
    }
    if ws.connectivity.mode == ConnectivityMode::ServiceEndpoint {
        props["serviceEndpoints"] = json!([{"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}]);
    }
    let body = json!({"properties": props});
    out.push(Desired { kind: "Subnet", id: ids.subnet.clone(), mode: Mode::Child, managed: body.clone(), body, update: UpdateStyle::MergePut, deps: subnet_deps });
    out
}

/// Children named `moat-*` on an observed NSG or route table that the plan no longer wants.
pub fn stale_children(parent: &Value, collection: &str, parent_id: &str, wanted: &[Desired]) -> Vec<String> {
    parent
        .get("properties")
        .and_then(|p| p.get(collection))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .filter(|n| is_moat_child(n))
        .map(|n| format!("{parent_id}/{collection}/{n}"))
        .filter(|id| !wanted.iter().any(|d| d.id.eq_ignore_ascii_case(id)))
        .collect()
}
