//! Microsoft.Network behaviour: virtual networks and subnets (inline + children, address rules,
//! in-use rules), NSGs and rules, route tables and routes, private endpoints (IP allocation,
//! NIC, DNS configs, connection states) and private DNS zone groups (A records in the zones).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};
use serde_json::{Map, Value, json};

use super::error::ArmError;
use super::hooks::{WriteCtx, sanitize};
use super::json::{array, eq_ci, obj, ref_id, str_in};
use super::path;
use super::state::{Entry, Prov, State, new_guid};
use super::types::{self, TypeSpec};

// ---------------------------------------------------------------------------------------------
// Helpers

fn props_of(e: &Entry) -> Map<String, Value> {
    match e.body.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    }
}

fn guid_meta(meta: &mut Map<String, Value>, key: &str) -> String {
    if let Some(s) = meta.get(key).and_then(Value::as_str) {
        return s.to_string();
    }
    let g = new_guid();
    meta.insert(key.into(), Value::String(g.clone()));
    g
}

fn parse_cidr(p: &str, resource_id: &str) -> Result<IpNet, ArmError> {
    let bad = || {
        ArmError::bad_request(
            "InvalidAddressPrefixFormat",
            format!(
                "Address prefix {p} of resource {resource_id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."
            ),
        )
    };
    if !p.contains('/') {
        return Err(bad());
    }
    let net = IpNet::from_str(p.trim()).map_err(|_| bad())?;
    if net.trunc() != net {
        return Err(ArmError::bad_request(
            "InvalidCIDRNotation",
            format!(
                "The address prefix {p} in resource {resource_id} has an invalid CIDR notation. For the given prefix length, the address prefix should be {}.",
                net.trunc()
            ),
        ));
    }
    Ok(net)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// `addressPrefix` and/or `addressPrefixes` of a subnet.
fn subnet_prefix_strings(props: &Map<String, Value>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(p) = props.get("addressPrefix").and_then(Value::as_str) {
        v.push(p.to_string());
    }
    for p in array(props, "addressPrefixes") {
        if let Some(s) = p.as_str()
            && !v.iter().any(|x| x == s)
        {
            v.push(s.to_string());
        }
    }
    v
}

fn subnet_nets(e: &Entry) -> Vec<IpNet> {
    subnet_prefix_strings(&props_of(e))
        .iter()
        .filter_map(|p| IpNet::from_str(p).ok())
        .collect()
}

fn vnet_nets(e: &Entry) -> Vec<IpNet> {
    let p = props_of(e);
    super::json::get_map(&p, "addressSpace.addressPrefixes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .filter_map(|s| IpNet::from_str(s).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn canonical_enum(v: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed.iter().copied().find(|a| a.eq_ignore_ascii_case(v))
}

/// Normalises an enum property (case-insensitive, canonical casing), or answers InvalidRequestFormat.
fn enum_prop(
    props: &mut Map<String, Value>,
    key: &str,
    allowed: &[&'static str],
    default: Option<&'static str>,
) -> Result<(), ArmError> {
    match props.get(key) {
        None | Some(Value::Null) => {
            if let Some(d) = default {
                props.insert(key.into(), Value::String(d.into()));
            }
            Ok(())
        }
        Some(Value::String(s)) => match canonical_enum(s, allowed) {
            Some(c) => {
                props.insert(key.into(), Value::String(c.into()));
                Ok(())
            }
            None => Err(ArmError::invalid_format(format!(
                "The value '{s}' of property '{key}' is not one of {}.",
                allowed.join(", ")
            ))),
        },
        Some(other) => Err(ArmError::invalid_format(format!(
            "Property '{key}' has an invalid value {other}."
        ))),
    }
}

/// Creates or replaces a child entry (keeps id casing, seq, meta and creation time of an existing one).
#[allow(clippy::too_many_arguments)]
fn upsert_child(
    st: &mut State,
    spec: &'static TypeSpec,
    parent_key: &str,
    parent_id: &str,
    root_key: &str,
    name: &str,
    body: Map<String, Value>,
    sub: &str,
    rg: &str,
) -> String {
    let id = format!("{parent_id}/{}/{name}", spec.leaf());
    let key = path::key_of(&id);
    let existing = st.get(&key).cloned();
    let seq = existing
        .as_ref()
        .map(|e| e.seq)
        .unwrap_or_else(|| st.next_seq());
    let entry = Entry {
        id: existing.as_ref().map(|e| e.id.clone()).unwrap_or(id),
        key: key.clone(),
        spec,
        name: existing
            .as_ref()
            .map(|e| e.name.clone())
            .unwrap_or_else(|| name.to_string()),
        sub: sub.to_string(),
        rg: rg.to_string(),
        parent: Some(parent_key.to_string()),
        root: root_key.to_string(),
        body,
        meta: existing
            .as_ref()
            .map(|e| e.meta.clone())
            .unwrap_or_default(),
        etag: State::new_etag(spec),
        prov: Prov::Succeeded,
        seq,
        created_at: existing
            .map(|e| e.created_at)
            .unwrap_or_else(super::state::now_rfc3339),
    };
    st.entries.insert(key.clone(), entry);
    key
}

/// Inline children of a PUT body: (name, body with `properties`), or InvalidRequestFormat.
type Inline = Vec<(String, Map<String, Value>)>;

fn inline_children(props: &Map<String, Value>, field: &str) -> Result<Inline, ArmError> {
    let mut out: Vec<(String, Map<String, Value>)> = Vec::new();
    match props.get(field) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Some(o) = item.as_object() else {
                    return Err(ArmError::invalid_format(format!(
                        "Each element of '{field}' must be an object."
                    )));
                };
                let Some(name) = o
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                else {
                    return Err(ArmError::invalid_format(format!(
                        "An element of '{field}' has no name."
                    )));
                };
                if out.iter().any(|(n, _)| eq_ci(n, name)) {
                    return Err(ArmError::invalid_format(format!(
                        "'{field}' contains '{name}' more than once."
                    )));
                }
                let mut body = Map::new();
                let p = match o.get("properties") {
                    Some(Value::Object(p)) => p.clone(),
                    None | Some(Value::Null) => Map::new(),
                    Some(_) => {
                        return Err(ArmError::invalid_format(format!(
                            "'{field}/{name}/properties' must be an object."
                        )));
                    }
                };
                body.insert("properties".into(), Value::Object(p));
                out.push((name.to_string(), body));
            }
        }
        Some(_) => {
            return Err(ArmError::invalid_format(format!(
                "'{field}' must be an array."
            )));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Subnet usage

/// What uses a subnet: NIC ip configurations (PE NICs included) and PEs without a NIC.
pub fn subnet_users(st: &State, subnet_key: &str) -> Vec<String> {
    let mut users = Vec::new();
    for nic in st.of_type(types::NIC) {
        for ipc in array(&props_of(nic), "ipConfigurations") {
            let Some(o) = ipc.as_object() else { continue };
            if ref_id(o, "properties.subnet").is_some_and(|s| path::key_of(s) == subnet_key) {
                let name = o.get("name").and_then(Value::as_str).unwrap_or("ipconfig1");
                users.push(format!("{}/ipConfigurations/{name}", nic.id));
            }
        }
    }
    for pe in st.of_type(types::PRIVATE_ENDPOINT) {
        let has_nic = pe
            .meta
            .get("nicKey")
            .and_then(Value::as_str)
            .is_some_and(|k| st.get(k).is_some());
        if !has_nic
            && pe
                .body
                .get("properties")
                .and_then(Value::as_object)
                .and_then(|p| ref_id(p, "subnet"))
                .is_some_and(|s| path::key_of(s) == subnet_key)
        {
            users.push(pe.id.clone());
        }
    }
    users
}

fn private_endpoints_in(st: &State, subnet_key: &str) -> Vec<String> {
    st.of_type(types::PRIVATE_ENDPOINT)
        .into_iter()
        .filter(|pe| {
            pe.body
                .get("properties")
                .and_then(Value::as_object)
                .and_then(|p| ref_id(p, "subnet"))
                .is_some_and(|s| path::key_of(s) == subnet_key)
        })
        .map(|pe| pe.id.clone())
        .collect()
}

fn in_use_subnet(name: &str, user: &str) -> ArmError {
    ArmError::bad_request(
        "InUseSubnetCannotBeDeleted",
        format!(
            "Subnet {name} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Subnets

struct VnetInfo {
    id: String,
    name: String,
    nets: Vec<IpNet>,
    location: String,
}

const PE_POLICIES: &[&str] = &[
    "Disabled",
    "Enabled",
    "NetworkSecurityGroupEnabled",
    "RouteTableEnabled",
];
const PLS_POLICIES: &[&str] = &["Enabled", "Disabled"];

fn delegation_actions(service: &str) -> Vec<&'static str> {
    match service.to_ascii_lowercase().as_str() {
        "microsoft.containerinstance/containergroups" => {
            vec!["Microsoft.Network/virtualNetworks/subnets/action"]
        }
        "microsoft.web/serverfarms" => vec!["Microsoft.Network/virtualNetworks/subnets/action"],
        "microsoft.machinelearningservices/workspaces" => {
            vec!["Microsoft.Network/virtualNetworks/subnets/join/action"]
        }
        _ => vec![
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.Network/virtualNetworks/subnets/prepareNetworkPolicies/action",
        ],
    }
}

/// Validates one subnet's properties (and fills defaults); returns its prefixes.
fn validate_subnet(
    st: &State,
    strict: bool,
    vnet: &VnetInfo,
    subnet_id: &str,
    name: &str,
    props: &mut Map<String, Value>,
    siblings: &[(String, Vec<IpNet>)],
) -> Result<Vec<IpNet>, ArmError> {
    let subnet_key = path::key_of(subnet_id);
    let prefixes = subnet_prefix_strings(props);
    if prefixes.is_empty() {
        return Err(ArmError::bad_request(
            "NetcfgInvalidSubnet",
            format!(
                "Subnet '{name}' is not valid in virtual network '{}'.",
                vnet.name
            ),
        ));
    }
    let mut nets = Vec::new();
    for p in &prefixes {
        nets.push(parse_cidr(p, subnet_id)?);
    }
    for n in &nets {
        if !vnet.nets.iter().any(|v| v.contains(n)) {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                format!(
                    "Subnet '{name}' is not valid because its IP address range is outside the IP address range of virtual network '{}'.",
                    vnet.name
                ),
            ));
        }
        if siblings
            .iter()
            .any(|(_, sn)| sn.iter().any(|s| overlaps(s, n)))
        {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangesOverlap",
                format!(
                    "Subnet '{name}' is not valid because its IP address range overlaps with that of an existing subnet in virtual network '{}'.",
                    vnet.name
                ),
            ));
        }
    }
    // An in-use subnet keeps its range.
    if let Some(existing) = st.get(&subnet_key) {
        let old = subnet_nets(existing);
        let users = subnet_users(st, &subnet_key);
        let same = old.len() == nets.len() && old.iter().all(|o| nets.contains(o));
        if !users.is_empty() && !same {
            return Err(ArmError::bad_request(
                "InUseSubnetCannotBeUpdated",
                format!(
                    "Subnet {name} is in use by {} and its address prefix cannot be changed.",
                    users[0]
                ),
            ));
        }
    }
    for (field, spec) in [
        ("networkSecurityGroup", types::NSG),
        ("routeTable", types::ROUTE_TABLE),
    ] {
        match props.get(field) {
            None | Some(Value::Null) => {
                props.remove(field);
            }
            Some(Value::Object(o)) => {
                let Some(rid) = o.get("id").and_then(Value::as_str) else {
                    return Err(ArmError::invalid_format(format!("'{field}' needs an id.")));
                };
                let ok = st.get_by_id(rid).is_some_and(|t| {
                    t.spec.is(spec)
                        && t.body.get("location").and_then(Value::as_str)
                            == Some(vnet.location.as_str())
                });
                if !ok {
                    return Err(ArmError::invalid_resource_reference(rid, subnet_id));
                }
                props.insert(field.into(), json!({"id": rid}));
            }
            Some(_) => {
                return Err(ArmError::invalid_format(format!(
                    "'{field}' must be an object."
                )));
            }
        }
    }
    enum_prop(
        props,
        "privateEndpointNetworkPolicies",
        PE_POLICIES,
        Some("Disabled"),
    )?;
    enum_prop(
        props,
        "privateLinkServiceNetworkPolicies",
        PLS_POLICIES,
        Some("Enabled"),
    )?;
    if strict
        && props
            .get("privateEndpointNetworkPolicies")
            .and_then(Value::as_str)
            == Some("Enabled")
        && let Some(pe) = private_endpoints_in(st, &subnet_key).first()
    {
        return Err(ArmError::bad_request(
            "PrivateEndpointNetworkPoliciesCannotBeEnabledOnPrivateEndpointSubnet",
            format!(
                "Private endpoint network policies cannot be enabled on subnet {subnet_id} since it has private endpoint {pe}."
            ),
        ));
    }
    // Service endpoints.
    let mut ses = Vec::new();
    for se in array(props, "serviceEndpoints") {
        let Some(service) = se
            .get("service")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return Err(ArmError::invalid_format(
                "A service endpoint has no 'service'.",
            ));
        };
        let locations = match se.get("locations").and_then(Value::as_array) {
            Some(l) if !l.is_empty() => Value::Array(l.clone()),
            _ => json!([vnet.location]),
        };
        ses.push(
            json!({"service": service, "locations": locations, "provisioningState": "Succeeded"}),
        );
    }
    props.insert("serviceEndpoints".into(), Value::Array(ses));
    // Delegations.
    let mut dels = Vec::new();
    for d in array(props, "delegations") {
        let Some(dn) = d
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return Err(ArmError::invalid_format("A delegation has no name."));
        };
        let Some(svc) = super::json::get_str(d, "properties.serviceName").filter(|s| !s.is_empty())
        else {
            return Err(ArmError::invalid_format(format!(
                "Delegation '{dn}' has no serviceName."
            )));
        };
        dels.push(json!({
            "name": dn,
            "id": format!("{subnet_id}/delegations/{dn}"),
            "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
            "properties": {"serviceName": svc, "actions": delegation_actions(svc), "provisioningState": "Succeeded"},
        }));
    }
    props.insert("delegations".into(), Value::Array(dels));
    Ok(nets)
}

fn vnet_info(e: &Entry) -> VnetInfo {
    VnetInfo {
        id: e.id.clone(),
        name: e.name.clone(),
        nets: vnet_nets(e),
        location: e
            .body
            .get("location")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

pub fn put_vnet(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let props = w.props_ref();
    let prefixes: Vec<String> = super::json::get_map(&props, "addressSpace.addressPrefixes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if prefixes.is_empty() {
        return Err(ArmError::invalid_format(
            "The virtual network needs addressSpace.addressPrefixes.",
        ));
    }
    let mut nets = Vec::new();
    for p in &prefixes {
        nets.push(parse_cidr(p, &w.id)?);
    }
    let vnet = VnetInfo {
        id: w.id.clone(),
        name: w.name.clone(),
        nets,
        location: w.location.clone(),
    };
    let desired = inline_children(&props, "subnets")?;
    let subnet_spec =
        types::lookup(types::SUBNET).ok_or_else(|| ArmError::invalid_format("subnet type"))?;
    let existing_children: Vec<Entry> = st
        .children(&w.key, types::SUBNET)
        .into_iter()
        .cloned()
        .collect();
    // Omitted subnets are deleted, unless in use.
    let mut to_remove = Vec::new();
    for ex in &existing_children {
        if !desired.iter().any(|(n, _)| eq_ci(n, &ex.name)) {
            if let Some(u) = subnet_users(st, &ex.key).first() {
                return Err(in_use_subnet(&ex.name, u));
            }
            to_remove.push(ex.key.clone());
        }
    }
    let strict = st.cfg.strict_pe_network_policies;
    let mut validated: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut siblings: Vec<(String, Vec<IpNet>)> = Vec::new();
    for (name, mut body) in desired {
        sanitize(subnet_spec, &mut body);
        let sid = format!("{}/subnets/{name}", vnet.id);
        let p = obj(&mut body, "properties");
        let nets = validate_subnet(st, strict, &vnet, &sid, &name, p, &siblings)?;
        siblings.push((name.clone(), nets));
        validated.push((name, body));
    }
    // Apply.
    for k in to_remove {
        st.remove_with_effects(&k);
    }
    for (name, body) in validated {
        let k = upsert_child(
            st,
            subnet_spec,
            &w.key,
            &w.id,
            &w.root,
            &name,
            body,
            &w.sub,
            &w.rg,
        );
        w.affected.push(k);
    }
    let p = w.props();
    p.remove("subnets");
    super::json::default(p, "enableDdosProtection", json!(false));
    super::json::default(p, "dhcpOptions", json!({"dnsServers": []}));
    guid_meta(&mut w.meta, "resourceGuid");
    Ok(())
}

pub fn put_subnet(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let parent = w.parent.clone().unwrap_or_default();
    let Some(vnet_entry) = st.get(&parent).cloned() else {
        return Err(ArmError::not_found(
            "ParentResourceNotFound",
            "Parent virtual network not found.",
        ));
    };
    let vnet = vnet_info(&vnet_entry);
    let siblings: Vec<(String, Vec<IpNet>)> = st
        .children(&parent, types::SUBNET)
        .into_iter()
        .filter(|s| s.key != w.key)
        .map(|s| (s.name.clone(), subnet_nets(s)))
        .collect();
    let strict = st.cfg.strict_pe_network_policies;
    let (id, name) = (w.id.clone(), w.name.clone());
    let p = w.props();
    validate_subnet(st, strict, &vnet, &id, &name, p, &siblings)?;
    Ok(())
}

pub fn check_delete_subnet(st: &State, e: &Entry) -> Result<(), ArmError> {
    match subnet_users(st, &e.key).first() {
        Some(u) => Err(in_use_subnet(&e.name, u)),
        None => Ok(()),
    }
}

pub fn check_delete_vnet(st: &State, e: &Entry) -> Result<(), ArmError> {
    for s in st.children(&e.key, types::SUBNET) {
        if let Some(u) = subnet_users(st, &s.key).first() {
            return Err(in_use_subnet(&s.name, u));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// NSGs and rules

const DIRECTIONS: &[&str] = &["Inbound", "Outbound"];
const ACCESS: &[&str] = &["Allow", "Deny"];
const PROTOCOLS: &[&str] = &["Tcp", "Udp", "Icmp", "Esp", "*", "Ah"];

/// Validates a security rule; returns (priority, direction).
fn validate_rule(
    name: &str,
    props: &mut Map<String, Value>,
    siblings: &[(String, i64, String)],
) -> Result<(i64, String), ArmError> {
    let prio_val = props.get("priority").cloned().unwrap_or(Value::Null);
    let prio = prio_val.as_i64().filter(|p| (100..=4096).contains(p));
    let Some(prio) = prio else {
        return Err(ArmError::bad_request(
            "SecurityRuleInvalidPriority",
            format!(
                "Security rule has invalid Priority. Value provided: {prio_val} Allowed range 100-4096."
            ),
        ));
    };
    for (key, allowed) in [
        ("direction", DIRECTIONS),
        ("access", ACCESS),
        ("protocol", PROTOCOLS),
    ] {
        if props.get(key).is_none_or(Value::is_null) {
            return Err(ArmError::invalid_format(format!(
                "Security rule {name} has no '{key}'."
            )));
        }
        enum_prop(props, key, allowed, None)?;
    }
    let direction = props
        .get("direction")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some((other, _, _)) = siblings
        .iter()
        .find(|(_, p, d)| *p == prio && *d == direction)
    {
        return Err(ArmError::bad_request(
            "SecurityRuleConflict",
            format!(
                "Security rule {name} conflicts with rule {other}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules."
            ),
        ));
    }
    for k in [
        "sourcePortRanges",
        "destinationPortRanges",
        "sourceAddressPrefixes",
        "destinationAddressPrefixes",
    ] {
        super::json::default(props, k, json!([]));
    }
    Ok((prio, direction))
}

fn rule_key(e: &Entry) -> (String, i64, String) {
    let p = props_of(e);
    (
        e.name.clone(),
        p.get("priority").and_then(Value::as_i64).unwrap_or(-1),
        p.get("direction")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    )
}

pub fn put_nsg(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let props = w.props_ref();
    let desired = inline_children(&props, "securityRules")?;
    let rule_spec =
        types::lookup(types::NSG_RULE).ok_or_else(|| ArmError::invalid_format("rule type"))?;
    let mut validated = Vec::new();
    let mut siblings: Vec<(String, i64, String)> = Vec::new();
    for (name, mut body) in desired {
        sanitize(rule_spec, &mut body);
        let (prio, dir) = validate_rule(&name, obj(&mut body, "properties"), &siblings)?;
        siblings.push((name.clone(), prio, dir));
        validated.push((name, body));
    }
    let existing: Vec<Entry> = st
        .children(&w.key, types::NSG_RULE)
        .into_iter()
        .cloned()
        .collect();
    for ex in existing {
        if !validated.iter().any(|(n, _)| eq_ci(n, &ex.name)) {
            st.remove_with_effects(&ex.key);
        }
    }
    for (name, body) in validated {
        let k = upsert_child(
            st, rule_spec, &w.key, &w.id, &w.root, &name, body, &w.sub, &w.rg,
        );
        w.affected.push(k);
    }
    w.props().remove("securityRules");
    guid_meta(&mut w.meta, "resourceGuid");
    Ok(())
}

pub fn put_rule(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let parent = w.parent.clone().unwrap_or_default();
    let siblings: Vec<(String, i64, String)> = st
        .children(&parent, types::NSG_RULE)
        .into_iter()
        .filter(|r| r.key != w.key)
        .map(rule_key)
        .collect();
    let name = w.name.clone();
    validate_rule(&name, w.props(), &siblings)?;
    Ok(())
}

/// The six platform rules every NSG returns in `defaultSecurityRules`.
pub fn default_rules(nsg: &Entry) -> Vec<Value> {
    let defs: [(&str, &str, &str, &str, &str, i64, &str); 6] = [
        (
            "AllowVnetInBound",
            "Allow inbound traffic from all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Inbound",
        ),
        (
            "AllowAzureLoadBalancerInBound",
            "Allow inbound traffic from azure load balancer",
            "AzureLoadBalancer",
            "*",
            "Allow",
            65001,
            "Inbound",
        ),
        (
            "DenyAllInBound",
            "Deny all inbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Inbound",
        ),
        (
            "AllowVnetOutBound",
            "Allow outbound traffic from all VMs to all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Outbound",
        ),
        (
            "AllowInternetOutBound",
            "Allow outbound traffic from all VMs to Internet",
            "*",
            "Internet",
            "Allow",
            65001,
            "Outbound",
        ),
        (
            "DenyAllOutBound",
            "Deny all outbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Outbound",
        ),
    ];
    defs.iter()
        .map(|(name, desc, src, dst, access, prio, dir)| {
            json!({
                "name": name,
                "id": format!("{}/defaultSecurityRules/{name}", nsg.id),
                "etag": nsg.etag,
                "type": types::NSG_DEFAULT_RULE,
                "properties": {
                    "provisioningState": "Succeeded",
                    "description": desc,
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": src,
                    "destinationAddressPrefix": dst,
                    "access": access,
                    "priority": prio,
                    "direction": dir,
                    "sourcePortRanges": [],
                    "destinationPortRanges": [],
                    "sourceAddressPrefixes": [],
                    "destinationAddressPrefixes": [],
                }
            })
        })
        .collect()
}

/// Subnets whose `field` (`networkSecurityGroup` / `routeTable`) references `key`.
fn subnets_referencing(st: &State, field: &str, key: &str) -> Vec<String> {
    st.of_type(types::SUBNET)
        .into_iter()
        .filter(|s| {
            s.body
                .get("properties")
                .and_then(Value::as_object)
                .and_then(|p| ref_id(p, field))
                .is_some_and(|r| path::key_of(r) == key)
        })
        .map(|s| s.id.clone())
        .collect()
}

pub fn check_delete_nsg(st: &State, e: &Entry) -> Result<(), ArmError> {
    let users = subnets_referencing(st, "networkSecurityGroup", &e.key);
    if users.is_empty() {
        return Ok(());
    }
    Err(ArmError::bad_request(
        "InUseNetworkSecurityGroupCannotBeDeleted",
        format!(
            "Network security group {} cannot be deleted because it is in use by the following resources: {}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
            e.id,
            users.join(", ")
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// Route tables and routes

const NEXT_HOPS: &[&str] = &[
    "VirtualNetworkGateway",
    "VnetLocal",
    "Internet",
    "VirtualAppliance",
    "None",
];

fn validate_route(name: &str, props: &mut Map<String, Value>) -> Result<(), ArmError> {
    if props.get("nextHopType").is_none_or(Value::is_null) {
        return Err(ArmError::invalid_format(format!(
            "Route {name} has no 'nextHopType'."
        )));
    }
    enum_prop(props, "nextHopType", NEXT_HOPS, None)?;
    let Some(prefix) = props
        .get("addressPrefix")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(ArmError::invalid_format(format!(
            "Route {name} has no 'addressPrefix'."
        )));
    };
    let is_tag = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !is_tag {
        parse_cidr(prefix, name)?;
    }
    let hop = props
        .get("nextHopType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ip = props
        .get("nextHopIpAddress")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (hop, ip) {
        ("VirtualAppliance", None) => {
            return Err(ArmError::invalid_format(format!(
                "Route {name} has next hop type VirtualAppliance but no nextHopIpAddress."
            )));
        }
        ("VirtualAppliance", Some(ip)) if ip.parse::<std::net::IpAddr>().is_err() => {
            return Err(ArmError::invalid_format(format!(
                "Route {name} has an invalid nextHopIpAddress '{ip}'."
            )));
        }
        (h, Some(_)) if h != "VirtualAppliance" => {
            return Err(ArmError::invalid_format(format!(
                "Route {name}: nextHopIpAddress is allowed only with next hop type VirtualAppliance (got {h})."
            )));
        }
        _ => {}
    }
    Ok(())
}

pub fn put_route_table(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let props = w.props_ref();
    let desired = inline_children(&props, "routes")?;
    let route_spec =
        types::lookup(types::ROUTE).ok_or_else(|| ArmError::invalid_format("route type"))?;
    let mut validated = Vec::new();
    for (name, mut body) in desired {
        sanitize(route_spec, &mut body);
        validate_route(&name, obj(&mut body, "properties"))?;
        validated.push((name, body));
    }
    let existing: Vec<Entry> = st
        .children(&w.key, types::ROUTE)
        .into_iter()
        .cloned()
        .collect();
    for ex in existing {
        if !validated.iter().any(|(n, _)| eq_ci(n, &ex.name)) {
            st.remove_with_effects(&ex.key);
        }
    }
    for (name, body) in validated {
        let k = upsert_child(
            st, route_spec, &w.key, &w.id, &w.root, &name, body, &w.sub, &w.rg,
        );
        w.affected.push(k);
    }
    let p = w.props();
    p.remove("routes");
    super::json::default(p, "disableBgpRoutePropagation", json!(false));
    guid_meta(&mut w.meta, "resourceGuid");
    Ok(())
}

pub fn put_route(_st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let name = w.name.clone();
    validate_route(&name, w.props())
}

pub fn check_delete_route_table(st: &State, e: &Entry) -> Result<(), ArmError> {
    let users = subnets_referencing(st, "routeTable", &e.key);
    if users.is_empty() {
        return Ok(());
    }
    Err(ArmError::bad_request(
        "InUseRouteTableCannotBeDeleted",
        format!(
            "Route table {} cannot be deleted because it is in use by the following resources: {}. In order to delete the route table, remove the association with the resource(s).",
            e.id,
            users.join(", ")
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// Private endpoints

/// The groupIds a private-link target accepts.
pub fn valid_group_ids(target: &TypeSpec) -> &'static [&'static str] {
    match target.canonical {
        types::WORKSPACE => &["amlworkspace"],
        types::STORAGE => &[
            "blob",
            "blob_secondary",
            "file",
            "queue",
            "queue_secondary",
            "table",
            "table_secondary",
            "dfs",
            "dfs_secondary",
            "web",
            "web_secondary",
        ],
        types::VAULT => &["vault"],
        types::REGISTRY => &["registry"],
        _ => &[],
    }
}

/// (memberName, fqdns) per private IP the target needs for a group.
fn dns_members(st: &State, target: &Entry, group: &str) -> Vec<(String, Vec<String>)> {
    let name = target.name.to_ascii_lowercase();
    let loc = target
        .body
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or(&st.cfg.location_default)
        .to_string();
    match target.spec.canonical {
        types::WORKSPACE => {
            let wsid = target
                .meta
                .get("workspaceId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let fixed = 3 + 1 + loc.len() + 1 + wsid.len();
            let room = 63usize.saturating_sub(fixed).max(1);
            let short: String = name.chars().take(room).collect();
            vec![
                (
                    "default".into(),
                    vec![
                        format!("{wsid}.workspace.{loc}.api.azureml.ms"),
                        format!("{wsid}.workspace.{loc}.cert.api.azureml.ms"),
                    ],
                ),
                (
                    "notebook".into(),
                    vec![format!("ml-{short}-{loc}-{wsid}.{loc}.notebooks.azure.net")],
                ),
                (
                    "inference".into(),
                    vec![format!("*.{wsid}.inference.{loc}.api.azureml.ms")],
                ),
            ]
        }
        types::STORAGE => {
            let (svc, host) = match group.strip_suffix("_secondary") {
                Some(svc) => (svc.to_string(), format!("{name}-secondary")),
                None => (group.to_string(), name.clone()),
            };
            vec![(
                group.to_string(),
                vec![format!("{host}.{svc}.core.windows.net")],
            )]
        }
        types::VAULT => vec![("default".into(), vec![format!("{name}.vault.azure.net")])],
        types::REGISTRY => vec![
            ("registry".into(), vec![format!("{name}.azurecr.io")]),
            (
                format!("registry_data_{loc}"),
                vec![format!("{name}.{loc}.data.azurecr.io")],
            ),
        ],
        _ => Vec::new(),
    }
}

fn call_failed(target_type: &str, msg: impl std::fmt::Display) -> ArmError {
    ArmError::bad_request(
        "PrivateEndpointBadRequest",
        format!("Call to {target_type} failed. Error message: {msg}"),
    )
}

/// IPv4 addresses allocated in a subnet -> the ip configuration that holds them.
fn used_ips(st: &State, subnet_key: &str, exclude_nic: Option<&str>) -> HashMap<Ipv4Addr, String> {
    let mut used = HashMap::new();
    for nic in st.of_type(types::NIC) {
        if Some(nic.key.as_str()) == exclude_nic {
            continue;
        }
        for ipc in array(&props_of(nic), "ipConfigurations") {
            let Some(o) = ipc.as_object() else { continue };
            if ref_id(o, "properties.subnet").is_none_or(|s| path::key_of(s) != subnet_key) {
                continue;
            }
            if let Some(ip) =
                str_in(o, "properties.privateIPAddress").and_then(|s| s.parse::<Ipv4Addr>().ok())
            {
                let name = o.get("name").and_then(Value::as_str).unwrap_or("ipconfig");
                used.insert(ip, format!("{}/ipConfigurations/{name}", nic.id));
            }
        }
    }
    used
}

/// The allocatable range of a subnet: skips the 4 first addresses and the broadcast one.
fn usable(net: &Ipv4Net) -> impl Iterator<Item = Ipv4Addr> + use<> {
    let start = u32::from(net.network()).saturating_add(4);
    let end = u32::from(net.broadcast()).saturating_sub(1);
    (start..=end).map(Ipv4Addr::from)
}

fn reserved(net: &Ipv4Net, ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    n < u32::from(net.network()).saturating_add(4) || n == u32::from(net.broadcast())
}

struct Conn {
    field: &'static str,
    target: Entry,
    group: String,
    body: Map<String, Value>,
}

pub fn put_private_endpoint(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let props = w.props_ref();
    let pe_id = w.id.clone();
    // Subnet.
    let Some(subnet_ref) = ref_id(&props, "subnet").map(str::to_string) else {
        return Err(ArmError::invalid_format(
            "The private endpoint needs properties.subnet.id.",
        ));
    };
    let Some(subnet) = st
        .get_by_id(&subnet_ref)
        .filter(|s| s.spec.is(types::SUBNET))
        .cloned()
    else {
        return Err(ArmError::invalid_resource_reference(&subnet_ref, &pe_id));
    };
    let vnet_loc = subnet
        .parent
        .as_deref()
        .and_then(|k| st.get(k))
        .and_then(|v| v.body.get("location"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !eq_ci(&vnet_loc, &w.location) {
        return Err(ArmError::invalid_resource_reference(&subnet_ref, &pe_id));
    }
    let sprops = props_of(&subnet);
    if !array(&sprops, "delegations").is_empty() {
        return Err(ArmError::bad_request(
            "PrivateEndpointCreationNotAllowedAsSubnetIsDelegated",
            format!(
                "Private endpoint {pe_id} cannot be created as subnet {} is delegated.",
                subnet.id
            ),
        ));
    }
    if st.cfg.strict_pe_network_policies
        && sprops
            .get("privateEndpointNetworkPolicies")
            .and_then(Value::as_str)
            == Some("Enabled")
    {
        return Err(ArmError::bad_request(
            "PrivateEndpointCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled",
            format!(
                "Private endpoint {pe_id} cannot be created in a subnet {} since it has private endpoint network policies enabled.",
                subnet.id
            ),
        ));
    }
    // Connections.
    let mut conns: Vec<Conn> = Vec::new();
    for field in [
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ] {
        let items = match props.get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(ArmError::invalid_format(format!(
                    "'{field}' must be an array."
                )));
            }
        };
        for item in items {
            let Some(o) = item.as_object() else {
                return Err(ArmError::invalid_format(format!(
                    "Each element of '{field}' must be an object."
                )));
            };
            let Some(cname) = o
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                return Err(ArmError::invalid_format(format!(
                    "An element of '{field}' has no name."
                )));
            };
            if conns.iter().any(|c| c.body.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(cname))) {
                return Err(ArmError::invalid_format(format!(
                    "Private endpoint {pe_id} has more than one connection named '{cname}'."
                )));
            }
            let conn_id = format!("{pe_id}/{field}/{cname}");
            let cprops = o
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let Some(target_id) = cprops
                .get("privateLinkServiceId")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                return Err(ArmError::bad_request(
                    "MissingParameterOnPrivateLinkServiceConnection",
                    format!(
                        "Private link service connection {conn_id} is missing required parameter 'private link service id'."
                    ),
                ));
            };
            let groups: Vec<String> = array(&cprops, "groupIds")
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect();
            if groups.is_empty() {
                return Err(ArmError::bad_request(
                    "MissingParameterOnPrivateLinkServiceConnection",
                    format!(
                        "Private link service connection {conn_id} is missing required parameter 'group Id'."
                    ),
                ));
            }
            let ttype = path::split_id(target_id)
                .map(|p| p.rtype)
                .unwrap_or_else(|| "unknown".into());
            let Some(target) = st.get_by_id(target_id).cloned() else {
                let rg = path::split_id(target_id).map(|p| p.rg).unwrap_or_default();
                return Err(call_failed(
                    &ttype,
                    format!(
                        "The Resource '{ttype}/{}' under resource group '{rg}' was not found.",
                        path::last_name(target_id)
                    ),
                ));
            };
            if groups.len() > 1 {
                return Err(ArmError::bad_request(
                    "OnlyOneGroupIdPermitted",
                    format!(
                        "Private link service connection {conn_id} has the following group Ids: {}. Only one group Id is permitted when connecting to a first-party resource ({}).",
                        groups.join(", "),
                        target.id
                    ),
                ));
            }
            let valid = valid_group_ids(target.spec);
            let Some(group) = valid.iter().find(|g| g.eq_ignore_ascii_case(&groups[0])) else {
                return Err(call_failed(
                    target.spec.canonical,
                    format!(
                        "The group id '{}' is not a valid private link resource of {}. Valid group ids: [{}].",
                        groups[0],
                        target.id,
                        valid.join(", ")
                    ),
                ));
            };
            if target.spec.is(types::REGISTRY) {
                let sku = super::json::str_in(&target.body, "sku.name").unwrap_or_default();
                if !eq_ci(sku, "Premium") {
                    return Err(call_failed(
                        types::REGISTRY,
                        format!(
                            "Private endpoint connections are not supported for the SKU {sku}. Registry {} must be Premium. For more information, please visit https://aka.ms/acr/private-link.",
                            target.name
                        ),
                    ));
                }
            }
            // Keep an existing connection state (it may have been approved or rejected since).
            let old_state = w.existing.as_ref().and_then(|e| {
                array(&props_of(e), field)
                    .iter()
                    .find(|c| {
                        c.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| eq_ci(n, cname))
                    })
                    .filter(|c| {
                        super::json::get_str(c, "properties.privateLinkServiceId")
                            .is_some_and(|t| eq_ci(t, target_id))
                    })
                    .and_then(|c| {
                        super::json::get(c, "properties.privateLinkServiceConnectionState")
                    })
                    .cloned()
            });
            let state = old_state.unwrap_or_else(|| {
                if field == "privateLinkServiceConnections" {
                    json!({"status": "Approved", "description": "Auto-Approved", "actionsRequired": "None"})
                } else {
                    let msg = cprops.get("requestMessage").and_then(Value::as_str).unwrap_or("Awaiting approval");
                    json!({"status": "Pending", "description": msg, "actionsRequired": "None"})
                }
            });
            let mut cp = cprops.clone();
            cp.insert(
                "privateLinkServiceId".into(),
                Value::String(target_id.to_string()),
            );
            cp.insert("groupIds".into(), json!([group]));
            cp.insert("privateLinkServiceConnectionState".into(), state);
            cp.insert("provisioningState".into(), json!("Succeeded"));
            let body = json!({
                "name": cname,
                "id": conn_id,
                "etag": format!("W/\"{}\"", new_guid()),
                "type": format!("Microsoft.Network/privateEndpoints/{field}"),
                "properties": cp,
            });
            conns.push(Conn {
                field,
                target,
                group: group.to_string(),
                body: body.as_object().cloned().unwrap_or_default(),
            });
        }
    }
    if conns.is_empty() {
        return Err(ArmError::invalid_format(
            "A private endpoint needs one privateLinkServiceConnections or manualPrivateLinkServiceConnections entry.",
        ));
    }

    // IP allocation.
    let Some(net) = subnet_nets(&subnet).into_iter().find_map(|n| match n {
        IpNet::V4(v4) => Some(v4),
        IpNet::V6(_) => None,
    }) else {
        return Err(ArmError::bad_request(
            "SubnetIsFull",
            format!("Subnet {} has no IPv4 address range.", subnet.name),
        ));
    };
    let nic_guid = guid_meta(&mut w.meta, "nicGuid");
    let nic_name = props
        .get("customNetworkInterfaceName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}.nic.{nic_guid}", w.name));
    let nic_id = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkInterfaces/{nic_name}",
        w.sub, w.rg
    );
    let nic_key = path::key_of(&nic_id);
    let old_nic_key = w
        .meta
        .get("nicKey")
        .and_then(Value::as_str)
        .map(str::to_string);
    let used = used_ips(st, &subnet.key, old_nic_key.as_deref());
    // Static addresses requested through properties.ipConfigurations (by memberName).
    let mut statics: HashMap<String, Ipv4Addr> = HashMap::new();
    for ipc in array(&props, "ipConfigurations") {
        let Some(ip_s) = super::json::get_str(ipc, "properties.privateIPAddress") else {
            continue;
        };
        let member = super::json::get_str(ipc, "properties.memberName")
            .unwrap_or("default")
            .to_ascii_lowercase();
        let ipc_name = ipc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("ipconfig");
        let Ok(ip) = ip_s.parse::<Ipv4Addr>() else {
            return Err(ArmError::invalid_format(format!(
                "'{ip_s}' is not a valid IPv4 address."
            )));
        };
        if !net.contains(&ip) {
            return Err(ArmError::bad_request(
                "PrivateIPAddressNotInSubnet",
                format!(
                    "IP configuration {pe_id}/ipConfigurations/{ipc_name} has private IP address {ip} which does not belong to subnet {}.",
                    subnet.id
                ),
            ));
        }
        if reserved(&net, ip) {
            return Err(ArmError::bad_request(
                "PrivateIPAddressIsReserved",
                format!(
                    "IP address {ip} is reserved by Azure in subnet {}.",
                    subnet.id
                ),
            ));
        }
        if let Some(owner) = used.get(&ip) {
            return Err(ArmError::bad_request(
                "PrivateIPAddressInUse",
                format!(
                    "IP configuration {pe_id}/ipConfigurations/{ipc_name} is using the private IP address {ip} which is already allocated to resource {owner}."
                ),
            ));
        }
        statics.insert(member, ip);
    }
    let old_allocs: Vec<Value> = w
        .meta
        .get("allocations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let same_subnet = w.meta.get("subnetKey").and_then(Value::as_str) == Some(subnet.key.as_str());
    let mut allocs: Vec<Value> = Vec::new();
    let mut taken: Vec<Ipv4Addr> = statics.values().copied().collect();
    for c in &conns {
        for (member, fqdns) in dns_members(st, &c.target, &c.group) {
            let ip = if let Some(ip) = statics.get(&member.to_ascii_lowercase()) {
                (*ip, "Static")
            } else {
                let reuse = same_subnet
                    .then(|| {
                        old_allocs.iter().find(|a| {
                            a.get("group").and_then(Value::as_str) == Some(c.group.as_str())
                                && a.get("member").and_then(Value::as_str) == Some(member.as_str())
                                && a.get("target").and_then(Value::as_str)
                                    == Some(c.target.key.as_str())
                        })
                    })
                    .flatten()
                    .and_then(|a| a.get("ip").and_then(Value::as_str))
                    .and_then(|s| s.parse::<Ipv4Addr>().ok())
                    .filter(|ip| !used.contains_key(ip) && !taken.contains(ip) && net.contains(ip));
                match reuse {
                    Some(ip) => (ip, "Dynamic"),
                    None => {
                        let free =
                            usable(&net).find(|ip| !used.contains_key(ip) && !taken.contains(ip));
                        let Some(ip) = free else {
                            return Err(ArmError::bad_request(
                                "SubnetIsFull",
                                format!(
                                    "Subnet {} with address prefix {net} does not have enough capacity for the private endpoint {pe_id}.",
                                    subnet.name
                                ),
                            ));
                        };
                        (ip, "Dynamic")
                    }
                }
            };
            taken.push(ip.0);
            allocs.push(json!({
                "group": c.group,
                "member": member,
                "target": c.target.key,
                "ip": ip.0.to_string(),
                "method": ip.1,
                "fqdns": fqdns,
            }));
        }
    }

    // Apply: NIC, meta, body.
    if let Some(old) = &old_nic_key
        && *old != nic_key
    {
        st.entries.remove(old);
    }
    let ipconfigs: Vec<Value> = allocs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let group = a.get("group").and_then(Value::as_str).unwrap_or_default();
            let member = a.get("member").and_then(Value::as_str).unwrap_or_default();
            let ipc_name = format!("{group}-{member}.privateEndpoint");
            json!({
                "name": ipc_name,
                "id": format!("{nic_id}/ipConfigurations/{ipc_name}"),
                "etag": format!("W/\"{}\"", new_guid()),
                "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                "properties": {
                    "provisioningState": "Succeeded",
                    "privateIPAddress": a.get("ip").cloned().unwrap_or(Value::Null),
                    "privateIPAllocationMethod": a.get("method").cloned().unwrap_or(json!("Dynamic")),
                    "subnet": {"id": subnet.id},
                    "primary": i == 0,
                    "privateIPAddressVersion": "IPv4",
                    "privateLinkConnectionProperties": {
                        "groupId": group,
                        "requiredMemberName": member,
                        "fqdns": a.get("fqdns").cloned().unwrap_or(json!([])),
                    },
                }
            })
        })
        .collect();
    let nic_spec = types::lookup(types::NIC).ok_or_else(|| ArmError::invalid_format("nic type"))?;
    let existing_nic = st.get(&nic_key).cloned();
    let nic_seq = existing_nic
        .as_ref()
        .map(|e| e.seq)
        .unwrap_or_else(|| st.next_seq());
    let nic = Entry {
        id: existing_nic
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_else(|| nic_id.clone()),
        key: nic_key.clone(),
        spec: nic_spec,
        name: nic_name.clone(),
        sub: w.sub.clone(),
        rg: w.rg.clone(),
        parent: None,
        root: nic_key.clone(),
        body: json!({
            "location": w.location,
            "properties": {
                "ipConfigurations": ipconfigs,
                "privateEndpoint": {"id": pe_id},
                "nicType": "Standard",
                "enableAcceleratedNetworking": false,
                "enableIPForwarding": false,
                "disableTcpStateTracking": false,
                "vnetEncryptionSupported": false,
                "macAddress": "",
                "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                "hostedWorkloads": [],
                "tapConfigurations": [],
            }
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
        meta: Map::new(),
        etag: State::new_etag(nic_spec),
        prov: Prov::Succeeded,
        seq: nic_seq,
        created_at: existing_nic
            .map(|e| e.created_at)
            .unwrap_or_else(super::state::now_rfc3339),
    };
    st.entries.insert(nic_key.clone(), nic);
    w.affected.push(nic_key.clone());
    w.meta.insert("nicKey".into(), Value::String(nic_key));
    w.meta.insert("nicId".into(), Value::String(nic_id));
    w.meta
        .insert("subnetKey".into(), Value::String(subnet.key.clone()));
    w.meta.insert("allocations".into(), Value::Array(allocs));
    guid_meta(&mut w.meta, "resourceGuid");
    let p = w.props();
    p.insert("subnet".into(), json!({"id": subnet_ref}));
    for field in [
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ] {
        let list: Vec<Value> = conns
            .iter()
            .filter(|c| c.field == field)
            .map(|c| Value::Object(c.body.clone()))
            .collect();
        p.insert(field.into(), Value::Array(list));
    }
    super::json::default(p, "ipConfigurations", json!([]));
    super::json::default(p, "applicationSecurityGroups", json!([]));
    if !p.contains_key("customNetworkInterfaceName") {
        p.insert("customNetworkInterfaceName".into(), json!(""));
    }
    Ok(())
}

/// Removes the private endpoint's NIC (zone groups are descendants and go first).
pub fn on_pe_removed(st: &mut State, e: &Entry) {
    if let Some(k) = e.meta.get("nicKey").and_then(Value::as_str) {
        st.entries.remove(k);
    }
}

// ---------------------------------------------------------------------------------------------
// Private DNS zone groups

pub fn put_zone_group(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let props = w.props_ref();
    let zg_id = w.id.clone();
    let mut configs = Vec::new();
    let items = match props.get("privateDnsZoneConfigs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(ArmError::invalid_format(
                "'privateDnsZoneConfigs' must be an array.",
            ));
        }
    };
    for item in items {
        let Some(o) = item.as_object() else {
            return Err(ArmError::invalid_format(
                "Each privateDnsZoneConfig must be an object.",
            ));
        };
        let Some(name) = o
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return Err(ArmError::invalid_format(
                "A privateDnsZoneConfig has no name.",
            ));
        };
        let Some(zone_id) = super::json::get_str(&item, "properties.privateDnsZoneId") else {
            return Err(ArmError::invalid_format(format!(
                "privateDnsZoneConfig '{name}' has no privateDnsZoneId."
            )));
        };
        if !st
            .get_by_id(zone_id)
            .is_some_and(|z| z.spec.is(types::DNS_ZONE))
        {
            return Err(ArmError::invalid_resource_reference(zone_id, &zg_id));
        }
        configs.push(json!({"name": name, "properties": {"privateDnsZoneId": zone_id}}));
    }
    w.props()
        .insert("privateDnsZoneConfigs".into(), Value::Array(configs));
    Ok(())
}

/// Public DNS suffixes a private zone serves (`privatelink.blob.core.windows.net` -> `blob.core.windows.net`).
fn zone_suffixes(zone: &str) -> Vec<String> {
    let z = zone.to_ascii_lowercase();
    let mut v = vec![z.replacen("privatelink.", "", 1)];
    if v[0] == "vaultcore.azure.net" {
        v.push("vault.azure.net".into());
    }
    v
}

/// (Re)computes a zone group's record sets from its endpoint's addresses and writes the A records.
pub fn apply_zone_group(st: &mut State, zg_key: &str) {
    let Some(zg) = st.get(zg_key).cloned() else {
        return;
    };
    let Some(pe) = zg.parent.as_deref().and_then(|k| st.get(k)).cloned() else {
        return;
    };
    // Drop the records written last time.
    for r in zg
        .meta
        .get("records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        if let Some(k) = r.get("recordKey").and_then(Value::as_str) {
            st.entries.remove(k);
        }
    }
    let configs: Vec<(String, String)> = array(&props_of(&zg), "privateDnsZoneConfigs")
        .iter()
        .filter_map(|c| {
            Some((
                c.get("name")?.as_str()?.to_string(),
                super::json::get_str(c, "properties.privateDnsZoneId")?.to_string(),
            ))
        })
        .collect();
    let zones: Vec<(String, Entry)> = configs
        .iter()
        .filter_map(|(n, zid)| st.get_by_id(zid).cloned().map(|z| (n.clone(), z)))
        .collect();
    let guid = pe
        .meta
        .get("resourceGuid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let a_spec = types::lookup("Microsoft.Network/privateDnsZones/A");
    let mut records = Vec::new();
    for alloc in pe
        .meta
        .get("allocations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let ip = alloc
            .get("ip")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for fqdn in alloc
            .get("fqdns")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let Some(fqdn) = fqdn.as_str().map(str::to_ascii_lowercase) else {
                continue;
            };
            // The zone with the longest matching suffix wins.
            let best = zones
                .iter()
                .filter_map(|(cfg, z)| {
                    zone_suffixes(&z.name)
                        .into_iter()
                        .filter(|s| fqdn.ends_with(&format!(".{s}")))
                        .max_by_key(String::len)
                        .map(|s| (cfg, z, s))
                })
                .max_by_key(|(_, _, s)| s.len());
            let Some((cfg, zone, suffix)) = best else {
                continue;
            };
            let rs_name = fqdn[..fqdn.len() - suffix.len() - 1].to_string();
            let Some(a_spec) = a_spec else { continue };
            let rid = format!("{}/A/{rs_name}", zone.id);
            let rkey = path::key_of(&rid);
            let existing = st.get(&rkey).cloned();
            let seq = existing
                .as_ref()
                .map(|e| e.seq)
                .unwrap_or_else(|| st.next_seq());
            let body = json!({
                "properties": {
                    "ttl": 10,
                    "aRecords": [{"ipv4Address": ip}],
                    "metadata": {"creator": format!("created by private endpoint {} with resource guid {guid}", pe.name)},
                    "isAutoRegistered": false,
                }
            });
            st.entries.insert(
                rkey.clone(),
                Entry {
                    id: existing.as_ref().map(|e| e.id.clone()).unwrap_or(rid),
                    key: rkey.clone(),
                    spec: a_spec,
                    name: rs_name.clone(),
                    sub: zone.sub.clone(),
                    rg: zone.rg.clone(),
                    parent: Some(zone.key.clone()),
                    root: zone.key.clone(),
                    body: body.as_object().cloned().unwrap_or_default(),
                    meta: Map::new(),
                    etag: State::new_etag(a_spec),
                    prov: Prov::Succeeded,
                    seq,
                    created_at: existing
                        .map(|e| e.created_at)
                        .unwrap_or_else(super::state::now_rfc3339),
                },
            );
            records.push(json!({
                "config": cfg,
                "recordSetName": rs_name,
                "fqdn": format!("{rs_name}.{}", zone.name.to_ascii_lowercase()),
                "ip": ip,
                "recordKey": rkey,
            }));
        }
    }
    if let Some(zg) = st.entries.get_mut(zg_key) {
        zg.meta.insert("records".into(), Value::Array(records));
    }
}

pub fn refresh_zone_groups_of(st: &mut State, pe_key: &str) {
    let groups: Vec<String> = st
        .children(pe_key, types::ZONE_GROUP)
        .into_iter()
        .map(|e| e.key.clone())
        .collect();
    for g in groups {
        apply_zone_group(st, &g);
    }
}

pub fn on_zone_group_removed(st: &mut State, e: &Entry) {
    for r in e
        .meta
        .get("records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        if let Some(k) = r.get("recordKey").and_then(Value::as_str) {
            st.entries.remove(k);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Read-side decoration

fn props_mut(obj: &mut Map<String, Value>) -> &mut Map<String, Value> {
    super::json::obj(obj, "properties")
}

fn ids(v: Vec<String>) -> Value {
    Value::Array(v.into_iter().map(|id| json!({"id": id})).collect())
}

pub fn decorate(st: &State, e: &Entry, obj: &mut Map<String, Value>) {
    let resource_guid = e.meta.get("resourceGuid").cloned();
    match e.spec.canonical {
        types::VNET => {
            let subnets: Vec<Value> = st
                .children(&e.key, types::SUBNET)
                .into_iter()
                .map(|s| st.render(s))
                .collect();
            let p = props_mut(obj);
            p.insert("subnets".into(), Value::Array(subnets));
            super::json::default(p, "virtualNetworkPeerings", json!([]));
            if let Some(g) = resource_guid {
                p.insert("resourceGuid".into(), g);
            }
        }
        types::SUBNET => {
            let users: Vec<String> = subnet_users(st, &e.key)
                .into_iter()
                .filter(|u| u.contains("/ipConfigurations/"))
                .collect();
            let pes = private_endpoints_in(st, &e.key);
            let p = props_mut(obj);
            if !users.is_empty() {
                p.insert("ipConfigurations".into(), ids(users));
            }
            if !pes.is_empty() {
                p.insert("privateEndpoints".into(), ids(pes));
            }
        }
        types::NSG => {
            let rules: Vec<Value> = st
                .children(&e.key, types::NSG_RULE)
                .into_iter()
                .map(|s| st.render(s))
                .collect();
            let subnets = subnets_referencing(st, "networkSecurityGroup", &e.key);
            let defaults = default_rules(e);
            let p = props_mut(obj);
            p.insert("securityRules".into(), Value::Array(rules));
            p.insert("defaultSecurityRules".into(), Value::Array(defaults));
            if !subnets.is_empty() {
                p.insert("subnets".into(), ids(subnets));
            }
            if let Some(g) = resource_guid {
                p.insert("resourceGuid".into(), g);
            }
        }
        types::ROUTE_TABLE => {
            let routes: Vec<Value> = st
                .children(&e.key, types::ROUTE)
                .into_iter()
                .map(|s| st.render(s))
                .collect();
            let subnets = subnets_referencing(st, "routeTable", &e.key);
            let p = props_mut(obj);
            p.insert("routes".into(), Value::Array(routes));
            if !subnets.is_empty() {
                p.insert("subnets".into(), ids(subnets));
            }
            if let Some(g) = resource_guid {
                p.insert("resourceGuid".into(), g);
            }
        }
        types::ROUTE => {
            super::json::default(props_mut(obj), "hasBgpOverride", json!(false));
        }
        types::PRIVATE_ENDPOINT => {
            let nic = e
                .meta
                .get("nicId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let mut dns = Vec::new();
            for a in e
                .meta
                .get("allocations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                let ip = a.get("ip").cloned().unwrap_or(Value::Null);
                for f in a
                    .get("fqdns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    dns.push(json!({"fqdn": f, "ipAddresses": [ip.clone()]}));
                }
            }
            let p = props_mut(obj);
            p.insert("networkInterfaces".into(), ids(nic.into_iter().collect()));
            p.insert("customDnsConfigs".into(), Value::Array(dns));
            // A connection whose target is gone shows Disconnected.
            for field in [
                "privateLinkServiceConnections",
                "manualPrivateLinkServiceConnections",
            ] {
                if let Some(Value::Array(conns)) = p.get_mut(field) {
                    for c in conns.iter_mut() {
                        let target = super::json::get_str(c, "properties.privateLinkServiceId")
                            .map(str::to_string);
                        if target.is_some_and(|t| st.get_by_id(&t).is_none())
                            && let Some(cp) = c.get_mut("properties").and_then(Value::as_object_mut)
                        {
                            cp.insert(
                                "privateLinkServiceConnectionState".into(),
                                json!({"status": "Disconnected", "description": "The private link resource was deleted.", "actionsRequired": "None"}),
                            );
                        }
                    }
                }
            }
        }
        types::ZONE_GROUP => {
            let records = e
                .meta
                .get("records")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let p = props_mut(obj);
            if let Some(Value::Array(configs)) = p.get_mut("privateDnsZoneConfigs") {
                for c in configs.iter_mut() {
                    let name = c
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let sets: Vec<Value> = records
                        .iter()
                        .filter(|r| r.get("config").and_then(Value::as_str) == Some(name.as_str()))
                        .map(|r| {
                            json!({
                                "recordType": "A",
                                "recordSetName": r.get("recordSetName").cloned().unwrap_or(Value::Null),
                                "fqdn": r.get("fqdn").cloned().unwrap_or(Value::Null),
                                "ttl": 10,
                                "ipAddresses": [r.get("ip").cloned().unwrap_or(Value::Null)],
                                "provisioningState": "Succeeded",
                            })
                        })
                        .collect();
                    if let Some(cp) = c.get_mut("properties").and_then(Value::as_object_mut) {
                        cp.insert("recordSets".into(), Value::Array(sets));
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_range_skips_reserved() {
        let net: Ipv4Net = "10.0.1.0/29".parse().unwrap();
        let v: Vec<String> = usable(&net).map(|i| i.to_string()).collect();
        assert_eq!(v, vec!["10.0.1.4", "10.0.1.5", "10.0.1.6"]);
        assert!(reserved(&net, "10.0.1.3".parse().unwrap()));
        assert!(reserved(&net, "10.0.1.7".parse().unwrap()));
    }

    #[test]
    fn suffixes() {
        assert_eq!(
            zone_suffixes("privatelink.vaultcore.azure.net"),
            vec!["vaultcore.azure.net", "vault.azure.net"]
        );
        assert_eq!(
            zone_suffixes("eastus.data.privatelink.azurecr.io"),
            vec!["eastus.data.azurecr.io"]
        );
    }

    #[test]
    fn cidr_errors() {
        assert_eq!(
            parse_cidr("10.0.0.1/24", "x").unwrap_err().code,
            "InvalidCIDRNotation"
        );
        assert_eq!(
            parse_cidr("10.0.0.0", "x").unwrap_err().code,
            "InvalidAddressPrefixFormat"
        );
        assert_eq!(
            parse_cidr("10.0.0.0/33", "x").unwrap_err().code,
            "InvalidAddressPrefixFormat"
        );
    }
}
