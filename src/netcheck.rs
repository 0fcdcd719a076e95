//! The safety oracle: what a subnet's traffic and a VNet's name resolution would be in a given
//! Azure state, and whether a sequence of states (every write on the way from one state to
//! another) ever left the traffic the documents require worse off than both ends, or opened what
//! both ends keep shut.
//!
//! Pure. A state is the set of ARM resources as a GET returns them (`id -> body`); the e2e tests
//! build the states from the ARM emulator's journal and check every scenario with
//! [`check_transition`]. The model follows Azure's documented evaluation:
//!
//! - **NSG**: rules of one direction by ascending priority, first match wins, then Azure's default
//!   rules (65000 VirtualNetwork allow, 65001 AzureLoadBalancer in / Internet out allow, 65500 deny);
//!   no NSG on the subnet allows everything.
//! - **Routes**: the longest matching prefix of the subnet's route table, a service-tag route being
//!   more specific than `0.0.0.0/0`; then the system routes (the VNet's space is `VnetLocal`,
//!   everything else `Internet`). An inbound flow is judged by its return route.
//! - **DNS**: a VNet resolves a name through the privatelink zone linked to it that serves the
//!   name's suffix: the zone's A record, or no answer (NXDOMAIN) when the zone has none; without
//!   such a zone the public answer.
//!
//! Probes are derived from every rule and route seen in the states (so a rule added tomorrow is
//! probed too) plus fixed ones for the internet and the documented service tags.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::Value;

/// Azure resources by lower-cased id, as GET returns them.
pub type State = BTreeMap<String, Value>;

/// An address a flow goes to or comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Addr {
    Ip(Ipv4Addr),
    /// An address of a service tag (`Storage.westeurope`, `AzureActiveDirectory`).
    Tag(String),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Ip(ip) => write!(f, "{ip}"),
            Addr::Tag(t) => f.write_str(t),
        }
    }
}

/// A flow seen from the subnet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    pub inbound: bool,
    /// The other end: the destination of an outbound flow, the source of an inbound one.
    pub peer: Addr,
    pub port: u16,
    pub protocol: &'static str,
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.inbound {
            write!(f, "inbound from {} to port {}/{}", self.peer, self.port, self.protocol)
        } else {
            write!(f, "outbound to {}:{}/{}", self.peer, self.port, self.protocol)
        }
    }
}

/// What happens to a flow: whether the NSG lets it through, and where its packets (or, inbound,
/// its answers) are routed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub allowed: bool,
    pub next_hop: String,
}

/// What a VNet gets for a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    /// Not answered from a private zone: the public DNS answer.
    Public,
    /// A privatelink zone linked to the VNet holds no record for it: no answer.
    NxDomain,
    Private(Vec<String>),
}

/// A place where a transition was less permissive than both ends, or more permissive than both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Index of the state (0 is the start).
    pub step: usize,
    /// The subnet (traffic) or VNet (names) concerned.
    pub subject: String,
    /// The flow or name.
    pub probe: String,
    pub start: String,
    pub end: String,
    pub got: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "state {}: {} {}: {} (start {}, end {})", self.step, self.subject, self.probe, self.got, self.start, self.end)
    }
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn props(v: &Value) -> Option<&Value> {
    v.get("properties")
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    props(v).and_then(|p| p.get(key)).and_then(Value::as_str)
}

fn strings(v: &Value, one: &str, many: &str) -> Vec<String> {
    let p = props(v);
    let mut out: Vec<String> = p.and_then(|p| p.get(many)).and_then(Value::as_array).into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect();
    if let Some(s) = p.and_then(|p| p.get(one)).and_then(Value::as_str) {
        out.push(s.to_string());
    }
    out
}

fn is_child(id: &str, parent_type: &str, child: &str) -> Option<String> {
    let l = lower(id);
    let marker = format!("/providers/{}/", lower(parent_type));
    let i = l.find(&marker)?;
    let rest = &l[i + marker.len()..];
    let mut parts = rest.split('/');
    let (name, c, _leaf) = (parts.next()?, parts.next()?, parts.next()?);
    (c == lower(child) && parts.next().is_none()).then(|| format!("{}{}", &l[..i + marker.len()], name))
}

/// The subnets of a state: (subnet id, its VNet id).
pub fn subnets(state: &State) -> Vec<(String, String)> {
    state.keys().filter_map(|id| is_child(id, "Microsoft.Network/virtualNetworks", "subnets").map(|vnet| (id.clone(), vnet))).collect()
}

fn children<'a>(state: &'a State, parent: &str, child: &str) -> Vec<&'a Value> {
    let prefix = format!("{}/{}/", lower(parent), lower(child));
    state.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)).filter(|(k, _)| !k[prefix.len()..].contains('/')).map(|(_, v)| v).collect()
}

fn vnet_space(state: &State, vnet: &str) -> Vec<Ipv4Net> {
    state
        .get(&lower(vnet))
        .and_then(|v| props(v)?.get("addressSpace")?.get("addressPrefixes")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.as_str()?.parse().ok())
        .collect()
}

fn is_public(ip: Ipv4Addr) -> bool {
    let n = Ipv4Net::new(ip, 32).unwrap_or_default();
    crate::cidr::public_addresses(&n) == 1
}

/// Whether an NSG address prefix (a tag, a CIDR, an address or `*`) covers `addr`.
fn prefix_matches(prefix: &str, addr: &Addr, space: &[Ipv4Net]) -> bool {
    let p = prefix.trim();
    if p == "*" || p.eq_ignore_ascii_case("any") {
        return true;
    }
    let lp = lower(p);
    match addr {
        Addr::Ip(ip) => {
            if lp == "internet" {
                return is_public(*ip) && !space.iter().any(|n| n.contains(ip));
            }
            if lp == "virtualnetwork" {
                return space.iter().any(|n| n.contains(ip));
            }
            if let Ok(net) = p.parse::<Ipv4Net>() {
                return net.contains(ip);
            }
            p.parse::<Ipv4Addr>().is_ok_and(|a| a == *ip)
        }
        Addr::Tag(t) => {
            let lt = lower(t);
            if lp == "internet" {
                // Azure's public service tags are internet addresses; AzureLoadBalancer and
                // VirtualNetwork are not.
                return !matches!(lt.as_str(), "azureloadbalancer" | "virtualnetwork");
            }
            if let Ok(net) = p.parse::<Ipv4Net>() {
                return net.prefix_len() == 0;
            }
            lt == lp || lt.starts_with(&format!("{lp}."))
        }
    }
}

fn port_matches(range: &str, port: u16) -> bool {
    let r = range.trim();
    if r == "*" {
        return true;
    }
    let (lo, hi) = r.split_once('-').unwrap_or((r, r));
    match (lo.trim().parse::<u32>(), hi.trim().parse::<u32>()) {
        (Ok(lo), Ok(hi)) => (lo..=hi).contains(&u32::from(port)),
        _ => false,
    }
}

struct Rule {
    priority: i64,
    allow: bool,
    protocol: String,
    peers: Vec<String>,
    ports: Vec<String>,
}

fn rules_of(state: &State, nsg: &str, inbound: bool) -> Vec<Rule> {
    let dir = if inbound { "inbound" } else { "outbound" };
    let mut rules: Vec<Rule> = children(state, nsg, "securityRules")
        .into_iter()
        .filter(|r| str_at(r, "direction").is_some_and(|d| d.eq_ignore_ascii_case(dir)))
        .map(|r| Rule {
            priority: props(r).and_then(|p| p.get("priority")).and_then(Value::as_i64).unwrap_or(4096),
            allow: str_at(r, "access").is_some_and(|a| a.eq_ignore_ascii_case("Allow")),
            protocol: str_at(r, "protocol").unwrap_or("*").to_string(),
            peers: if inbound { strings(r, "sourceAddressPrefix", "sourceAddressPrefixes") } else { strings(r, "destinationAddressPrefix", "destinationAddressPrefixes") },
            ports: strings(r, "destinationPortRange", "destinationPortRanges"),
        })
        .collect();
    // Azure's default rules.
    let default = |priority, allow, peer: &str| Rule { priority, allow, protocol: "*".into(), peers: vec![peer.into()], ports: vec!["*".into()] };
    rules.push(default(65000, true, "VirtualNetwork"));
    rules.push(default(65001, true, if inbound { "AzureLoadBalancer" } else { "Internet" }));
    rules.push(default(65500, false, "*"));
    rules.sort_by_key(|r| r.priority);
    rules
}

/// Whether the subnet's NSG lets `flow` through.
pub fn nsg_allows(state: &State, subnet: &str, flow: &Flow) -> bool {
    let Some(sn) = state.get(&lower(subnet)) else { return false };
    let Some(nsg) = props(sn).and_then(|p| p.get("networkSecurityGroup")).and_then(|n| n.get("id")).and_then(Value::as_str) else { return true };
    let vnet = crate::plan::ids::parent_of(subnet);
    let space = vnet_space(state, vnet);
    for r in rules_of(state, nsg, flow.inbound) {
        let proto_ok = r.protocol == "*" || r.protocol.eq_ignore_ascii_case(flow.protocol);
        if proto_ok && r.ports.iter().any(|p| port_matches(p, flow.port)) && r.peers.iter().any(|p| prefix_matches(p, &flow.peer, &space)) {
            return r.allow;
        }
    }
    false
}

/// Where the subnet's packets to `dest` go: `Internet`, `VnetLocal`, `VirtualAppliance 10.0.0.4`, ...
pub fn next_hop(state: &State, subnet: &str, dest: &Addr) -> String {
    let vnet = crate::plan::ids::parent_of(subnet);
    let space = vnet_space(state, vnet);
    let route_table = state.get(&lower(subnet)).and_then(|s| props(s)?.get("routeTable")?.get("id")?.as_str().map(lower));
    // (specificity, hop); a tag route counts as /33: more specific than any CIDR that contains it.
    let mut best: Option<(u8, String)> = None;
    for r in route_table.iter().flat_map(|rt| children(state, rt, "routes")) {
        let Some(prefix) = str_at(r, "addressPrefix") else { continue };
        let hop = match (str_at(r, "nextHopType"), str_at(r, "nextHopIpAddress")) {
            (Some(t), Some(ip)) => format!("{t} {ip}"),
            (Some(t), None) => t.to_string(),
            _ => continue,
        };
        let specificity = match (prefix.parse::<Ipv4Net>(), dest) {
            (Ok(net), Addr::Ip(ip)) if net.contains(ip) => Some(net.prefix_len()),
            (Ok(net), Addr::Tag(_)) if net.prefix_len() == 0 => Some(0),
            (Err(_), Addr::Tag(t)) if prefix_matches(prefix, &Addr::Tag(t.clone()), &[]) => Some(33),
            _ => None,
        };
        if let Some(s) = specificity
            && best.as_ref().is_none_or(|(b, _)| s > *b)
        {
            best = Some((s, hop));
        }
    }
    // System routes: the VNet's own space stays local; a user route wins a tie.
    let system = match dest {
        Addr::Ip(ip) => space.iter().filter(|n| n.contains(ip)).map(|n| n.prefix_len()).max().map(|len| (len, "VnetLocal".to_string())),
        Addr::Tag(_) => None,
    };
    match (best, system) {
        (Some((b, hop)), Some((s, _))) if b >= s => hop,
        (_, Some((_, local))) => local,
        (Some((_, hop)), None) => hop,
        (None, None) => "Internet".into(),
    }
}

/// What happens to a flow of the subnet.
pub fn verdict(state: &State, subnet: &str, flow: &Flow) -> Verdict {
    Verdict { allowed: nsg_allows(state, subnet, flow), next_hop: next_hop(state, subnet, &flow.peer) }
}

/// What `vnet` gets for `fqdn`.
pub fn resolve(state: &State, vnet: &str, fqdn: &str) -> Resolution {
    let vnet = lower(vnet);
    for (id, zone) in state.iter().filter(|(id, _)| is_zone(id)) {
        let zone_name = crate::plan::ids::name_of(id);
        let Some(record) = crate::privatelink::record_name(fqdn, zone_name) else { continue };
        let linked = children(state, id, "virtualNetworkLinks")
            .iter()
            .any(|l| props(l).and_then(|p| p.get("virtualNetwork")).and_then(|v| v.get("id")).and_then(Value::as_str).is_some_and(|v| lower(v) == vnet));
        if !linked {
            continue;
        }
        let _ = zone;
        let set = state.get(&format!("{id}/a/{}", lower(&record)));
        return match set.and_then(|s| props(s)?.get("aRecords")?.as_array().cloned()) {
            Some(a) if !a.is_empty() => {
                let mut ips: Vec<String> = a.iter().filter_map(|r| r.get("ipv4Address").and_then(Value::as_str).map(str::to_string)).collect();
                ips.sort();
                Resolution::Private(ips)
            }
            _ => Resolution::NxDomain,
        };
    }
    Resolution::Public
}

fn is_zone(id: &str) -> bool {
    let l = lower(id);
    l.rfind("/providers/microsoft.network/privatednszones/").is_some_and(|i| !l[i + "/providers/microsoft.network/privatednszones/".len()..].contains('/'))
}

/// Representative addresses of an NSG prefix or route prefix.
fn representatives(prefix: &str) -> Vec<Addr> {
    let p = prefix.trim();
    let lp = lower(p);
    if p == "*" || lp == "internet" || lp == "any" {
        return vec![Addr::Ip(Ipv4Addr::new(203, 0, 113, 7))];
    }
    if lp == "virtualnetwork" || lp == "azureloadbalancer" {
        return vec![Addr::Tag(p.to_string())];
    }
    if let Ok(net) = p.parse::<Ipv4Net>() {
        let first = if net.prefix_len() < 31 { u32::from(net.network()).saturating_add(1) } else { u32::from(net.network()) };
        return vec![Addr::Ip(Ipv4Addr::from(first))];
    }
    if let Ok(ip) = p.parse::<Ipv4Addr>() {
        return vec![Addr::Ip(ip)];
    }
    vec![Addr::Tag(p.to_string())]
}

/// The flows to probe: one per rule and route seen in any of the states, plus the internet and
/// the documented service tags in both directions.
pub fn probes(states: &[State]) -> Vec<Flow> {
    let mut out: BTreeSet<Flow> = BTreeSet::new();
    let fixed_out = ["AzureActiveDirectory", "AzureMachineLearning", "BatchNodeManagement", "AzureResourceManager", "Storage", "AzureFrontDoor.FirstParty", "MicrosoftContainerRegistry", "AzureMonitor", "Keyvault"];
    for t in fixed_out {
        out.insert(Flow { inbound: false, peer: Addr::Tag(t.into()), port: 443, protocol: "Tcp" });
    }
    for port in [22u16, 443, 80] {
        out.insert(Flow { inbound: false, peer: Addr::Ip(Ipv4Addr::new(203, 0, 113, 7)), port, protocol: "Tcp" });
        out.insert(Flow { inbound: true, peer: Addr::Ip(Ipv4Addr::new(198, 51, 100, 7)), port, protocol: "Tcp" });
    }
    out.insert(Flow { inbound: true, peer: Addr::Tag("BatchNodeManagement".into()), port: 29876, protocol: "Tcp" });
    out.insert(Flow { inbound: true, peer: Addr::Tag("AzureMachineLearning".into()), port: 44224, protocol: "Tcp" });
    for state in states {
        for (id, body) in state {
            if is_child(id, "Microsoft.Network/networkSecurityGroups", "securityRules").is_some() {
                let inbound = str_at(body, "direction").is_some_and(|d| d.eq_ignore_ascii_case("Inbound"));
                let peers = if inbound { strings(body, "sourceAddressPrefix", "sourceAddressPrefixes") } else { strings(body, "destinationAddressPrefix", "destinationAddressPrefixes") };
                let ports = strings(body, "destinationPortRange", "destinationPortRanges");
                let port = ports.first().map(|p| p.split('-').next().unwrap_or("443").trim().parse::<u16>().unwrap_or(443)).unwrap_or(443);
                let protocol = match str_at(body, "protocol").map(lower).as_deref() {
                    Some("udp") => "Udp",
                    _ => "Tcp",
                };
                for peer in peers.iter().flat_map(|p| representatives(p)) {
                    out.insert(Flow { inbound, peer, port, protocol });
                }
            } else if is_child(id, "Microsoft.Network/routeTables", "routes").is_some()
                && let Some(prefix) = str_at(body, "addressPrefix")
            {
                for peer in representatives(prefix) {
                    out.insert(Flow { inbound: false, peer, port: 443, protocol: "Tcp" });
                }
            }
        }
    }
    out.into_iter().collect()
}

/// The (VNet, name) pairs to probe: each record of a privatelink zone under each VNet linked to
/// any zone, in any of the states.
pub fn name_probes(states: &[State]) -> Vec<(String, String)> {
    let mut vnets: BTreeSet<String> = BTreeSet::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for state in states {
        for (id, body) in state {
            if let Some(zone) = is_child(id, "Microsoft.Network/privateDnsZones", "virtualNetworkLinks") {
                let _ = zone;
                if let Some(v) = props(body).and_then(|p| p.get("virtualNetwork")).and_then(|v| v.get("id")).and_then(Value::as_str) {
                    vnets.insert(lower(v));
                }
            } else if let Some(zone) = is_child(id, "Microsoft.Network/privateDnsZones", "A") {
                let zone_name = crate::plan::ids::name_of(&zone);
                let record = crate::plan::ids::name_of(id);
                if let Some(sfx) = crate::privatelink::public_suffixes(zone_name).into_iter().next() {
                    names.insert(format!("{record}.{sfx}"));
                }
            }
        }
    }
    vnets.iter().flat_map(|v| names.iter().map(move |n| (v.clone(), n.clone()))).collect()
}

fn exists(state: &State, id: &str) -> bool {
    state.contains_key(&lower(id))
}

/// Checks a transition: every state from `states[0]` (the start) to the last (the end). For each
/// subnet and each probed flow, whether the NSG allows it and where it is routed must, in every
/// state, be what the start or the end has; a subnet created on the way must appear in its final
/// form; for each VNet that exists at the start and each probed name the answer must be the
/// start's or the end's.
pub fn check_transition(states: &[State]) -> Vec<Violation> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (states.first(), states.last()) else { return out };
    let flows = probes(states);
    let mut all_subnets: BTreeSet<String> = BTreeSet::new();
    for s in states {
        all_subnets.extend(subnets(s).into_iter().map(|(id, _)| id));
    }
    for subnet in &all_subnets {
        let start_exists = exists(first, subnet);
        let end_exists = exists(last, subnet);
        for flow in &flows {
            let start = start_exists.then(|| verdict(first, subnet, flow));
            let end = end_exists.then(|| verdict(last, subnet, flow));
            if start.is_none() && end.is_none() {
                continue;
            }
            for (i, st) in states.iter().enumerate() {
                if !exists(st, subnet) {
                    continue;
                }
                let got = verdict(st, subnet, flow);
                let ok_allowed = start.iter().chain(end.iter()).any(|v| v.allowed == got.allowed);
                let ok_hop = start.iter().chain(end.iter()).any(|v| v.next_hop == got.next_hop);
                if !(ok_allowed && ok_hop) {
                    let show = |v: &Option<Verdict>| v.as_ref().map(|v| format!("{} via {}", if v.allowed { "allowed" } else { "denied" }, v.next_hop)).unwrap_or_else(|| "no subnet".into());
                    out.push(Violation {
                        step: i,
                        subject: subnet.clone(),
                        probe: flow.to_string(),
                        start: show(&start),
                        end: show(&end),
                        got: show(&Some(got)),
                    });
                    break;
                }
            }
        }
    }
    for (vnet, name) in name_probes(states) {
        // A VNet created on the way has no workload yet that resolves names (its subnets are
        // checked above); its answers are judged from the transitions after it exists.
        // Symmetrically, a VNet deleted on the way has lost its workloads first (the subnets'
        // traffic is checked above): what its names resolve to while it is torn down is moot.
        if !exists(first, &vnet) || !exists(last, &vnet) {
            continue;
        }
        let start = Some(resolve(first, &vnet, &name));
        let end = Some(resolve(last, &vnet, &name));
        for (i, st) in states.iter().enumerate() {
            if !exists(st, &vnet) {
                continue;
            }
            let got = resolve(st, &vnet, &name);
            if !start.iter().chain(end.iter()).any(|v| *v == got) {
                let show = |v: &Option<Resolution>| v.as_ref().map(|r| format!("{r:?}")).unwrap_or_else(|| "no VNet".into());
                out.push(Violation { step: i, subject: vnet.clone(), probe: format!("resolve {name}"), start: show(&start), end: show(&end), got: format!("{got:?}") });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VNET: &str = "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v";
    const NSG: &str = "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/networksecuritygroups/n";
    const RT: &str = "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/routetables/r";

    fn base() -> State {
        let mut s = State::new();
        s.insert(VNET.into(), json!({"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}));
        s.insert(format!("{VNET}/subnets/a"), json!({"properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": NSG}, "routeTable": {"id": RT}}}));
        s.insert(NSG.into(), json!({"properties": {}}));
        s.insert(RT.into(), json!({"properties": {}}));
        s
    }

    fn rule(s: &mut State, name: &str, dir: &str, prio: i64, access: &str, peer: &str, port: &str) {
        let key = if dir == "Inbound" { "sourceAddressPrefix" } else { "destinationAddressPrefix" };
        let other = if dir == "Inbound" { "destinationAddressPrefix" } else { "sourceAddressPrefix" };
        s.insert(format!("{NSG}/securityrules/{name}"), json!({"properties": {"direction": dir, "priority": prio, "access": access, "protocol": "*", key: peer, other: "*", "destinationPortRange": port}}));
    }

    fn route(s: &mut State, name: &str, prefix: &str, hop: &str) {
        s.insert(format!("{RT}/routes/{name}"), json!({"properties": {"addressPrefix": prefix, "nextHopType": hop}}));
    }

    #[test]
    fn nsg_first_match_and_defaults() {
        let mut s = base();
        let subnet = format!("{VNET}/subnets/a");
        let aad = Flow { inbound: false, peer: Addr::Tag("AzureActiveDirectory".into()), port: 443, protocol: "Tcp" };
        assert!(nsg_allows(&s, &subnet, &aad), "the default AllowInternetOutBound lets it out");
        rule(&mut s, "deny", "Outbound", 4000, "Deny", "Internet", "*");
        assert!(!nsg_allows(&s, &subnet, &aad));
        rule(&mut s, "aad", "Outbound", 300, "Allow", "AzureActiveDirectory", "443");
        assert!(nsg_allows(&s, &subnet, &aad));
        let batch = Flow { inbound: true, peer: Addr::Tag("BatchNodeManagement.westeurope".into()), port: 29876, protocol: "Tcp" };
        assert!(!nsg_allows(&s, &subnet, &batch), "DenyAllInBound");
        rule(&mut s, "batch", "Inbound", 300, "Allow", "BatchNodeManagement", "29876-29877");
        assert!(nsg_allows(&s, &subnet, &batch), "the global tag covers its regional part");
    }

    #[test]
    fn routes_prefer_tags_over_the_default_route() {
        let mut s = base();
        let subnet = format!("{VNET}/subnets/a");
        route(&mut s, "default", "0.0.0.0/0", "VirtualAppliance");
        assert_eq!(next_hop(&s, &subnet, &Addr::Tag("BatchNodeManagement.westeurope".into())), "VirtualAppliance");
        route(&mut s, "batch", "BatchNodeManagement.westeurope", "Internet");
        assert_eq!(next_hop(&s, &subnet, &Addr::Tag("BatchNodeManagement.westeurope".into())), "Internet");
        assert_eq!(next_hop(&s, &subnet, &Addr::Ip(Ipv4Addr::new(10, 0, 2, 4))), "VnetLocal");
    }

    #[test]
    fn deny_before_allows_is_caught_and_allows_before_deny_passes() {
        let start = base();
        let mut with_allow = start.clone();
        rule(&mut with_allow, "aad", "Outbound", 300, "Allow", "AzureActiveDirectory", "443");
        let mut end = with_allow.clone();
        rule(&mut end, "deny", "Outbound", 4000, "Deny", "Internet", "*");
        assert!(check_transition(&[start.clone(), with_allow, end.clone()]).is_empty());
        let mut with_deny = start.clone();
        rule(&mut with_deny, "deny", "Outbound", 4000, "Deny", "Internet", "*");
        let v = check_transition(&[start, with_deny, end]);
        assert!(v.iter().any(|v| v.probe.contains("AzureActiveDirectory") && v.step == 1), "{v:?}");
    }

    #[test]
    fn the_default_route_before_the_exception_is_caught() {
        let start = base();
        let mut wrong = start.clone();
        route(&mut wrong, "default", "0.0.0.0/0", "VirtualAppliance");
        let mut end = wrong.clone();
        route(&mut end, "batch", "BatchNodeManagement", "Internet");
        let v = check_transition(&[start, wrong, end]);
        assert!(v.iter().any(|v| v.probe.contains("BatchNodeManagement") && v.got.contains("VirtualAppliance")), "{v:?}");
    }

    #[test]
    fn a_subnet_created_on_the_way_must_appear_in_its_final_form() {
        let mut start = base();
        start.remove(&format!("{VNET}/subnets/a"));
        let mut early = start.clone();
        early.insert(format!("{VNET}/subnets/a"), json!({"properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": NSG}}}));
        let mut end = early.clone();
        rule(&mut end, "batch", "Inbound", 300, "Allow", "BatchNodeManagement", "29876-29877");
        let v = check_transition(&[start, early, end]);
        assert!(v.iter().any(|v| v.probe.contains("BatchNodeManagement") && v.step == 1), "{v:?}");
    }

    #[test]
    fn a_zone_linked_before_its_records_leaves_no_answer() {
        let zone = "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/privatednszones/privatelink.vaultcore.azure.net";
        let mut start = base();
        start.insert(zone.into(), json!({}));
        let mut linked = start.clone();
        linked.insert(format!("{zone}/virtualnetworklinks/l"), json!({"properties": {"virtualNetwork": {"id": VNET}}}));
        let mut end = linked.clone();
        end.insert(format!("{zone}/a/kv1"), json!({"properties": {"aRecords": [{"ipv4Address": "10.0.0.5"}]}}));
        let mut records_first = start.clone();
        records_first.insert(format!("{zone}/a/kv1"), json!({"properties": {"aRecords": [{"ipv4Address": "10.0.0.5"}]}}));
        assert_eq!(resolve(&end, VNET, "kv1.vault.azure.net"), Resolution::Private(vec!["10.0.0.5".into()]));
        assert!(check_transition(&[start.clone(), records_first, end.clone()]).is_empty());
        let v = check_transition(&[start, linked, end]);
        assert!(v.iter().any(|v| v.got == "NxDomain"), "{v:?}");
    }
}
