//! The single source of the NSG rules and routes moat puts on a compute subnet, per
//! `ComputePurpose` and outbound mode, as documented in the Azure ML network-isolation docs
//! (`shared/seeds/004_*`, "Required ports", "Limit outbound connectivity", "User-defined routes
//! for forced tunneling"; `shared/docs/azure-arm-facts.md` §5.1 and §5.2 for the current lists).
//!
//! Every rule and route is named `moat-…`: moat recognises what it owns in an adopted NSG or
//! route table by that prefix. Priorities are fixed per rule, so they never move between
//! reconciles:
//!
//! | band | what |
//! |---|---|
//! | 300–349 | required inbound (Batch 29876-29877, Azure ML 44224, scoring) and required outbound service tags |
//! | 350–365 | SSH from `nsg.sshFrom` (one rule per source) |
//! | 400–431 | `outbound.extraRules`, in spec order |
//! | 4000 | the final outbound deny to `Internet` in `Restricted` mode |
//!
//! The module also holds the pure checks of an adopted NSG or route table against these
//! (shadowing Deny rules, priority collisions), which the constraint catalog reports.

use crate::api::{ComputePurpose, ComputeSubnetSpec, OutboundMode, RenderedRoute, RenderedRule, RuleProtocol};
use crate::privatelink::DnsCloud;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Prefix of every rule and route name moat owns.
pub const OWNED_PREFIX: &str = "moat-";

/// Priority of the first required rule.
pub const REQUIRED_PRIORITY: i32 = 300;
/// Priority of the first SSH rule.
pub const SSH_PRIORITY: i32 = 350;
/// Priority of the first extra outbound rule.
pub const EXTRA_PRIORITY: i32 = 400;
/// Priority of the final deny-internet rule.
pub const DENY_INTERNET_PRIORITY: i32 = 4000;

/// Direction of a security rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Whether a rule allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Access {
    Allow,
    Deny,
}

/// Protocol of a security rule, as ARM spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
    /// `*` in ARM.
    #[serde(rename = "*")]
    Any,
}

impl Protocol {
    /// ARM's spelling: `Tcp`, `Udp` or `*`.
    pub fn as_arm(self) -> &'static str {
        match self {
            Protocol::Tcp => "Tcp",
            Protocol::Udp => "Udp",
            Protocol::Any => "*",
        }
    }
}

impl From<RuleProtocol> for Protocol {
    fn from(p: RuleProtocol) -> Self {
        match p {
            RuleProtocol::Tcp => Protocol::Tcp,
            RuleProtocol::Udp => Protocol::Udp,
            RuleProtocol::Any => Protocol::Any,
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        })
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Allow => "Allow",
            Access::Deny => "Deny",
        })
    }
}

/// One NSG security rule moat wants on the subnet's NSG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredSecurityRule {
    /// `moat-in-…` or `moat-out-…`.
    pub name: String,
    pub direction: Direction,
    /// 100–4096, unique per direction; fixed per rule (see the module docs).
    pub priority: i32,
    pub access: Access,
    pub protocol: Protocol,
    /// Service tag, CIDR, address or `*`.
    pub source_address_prefix: String,
    /// Always `*`.
    pub source_port_range: String,
    /// Service tag, CIDR, address or `*`.
    pub destination_address_prefix: String,
    /// Port numbers, ranges (`29876-29877`) or `*`.
    pub destination_port_ranges: Vec<String>,
    /// Why the rule exists (goes to the ARM rule's description).
    pub description: String,
}

impl DesiredSecurityRule {
    /// The status form.
    pub fn to_rendered(&self) -> RenderedRule {
        RenderedRule {
            name: self.name.clone(),
            direction: self.direction.to_string(),
            priority: self.priority,
            access: self.access.to_string(),
            protocol: self.protocol.as_arm().to_string(),
            source: self.source_address_prefix.clone(),
            destination: self.destination_address_prefix.clone(),
            destination_ports: self.destination_port_ranges.clone(),
        }
    }
}

/// One route moat wants in the subnet's route table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredRoute {
    /// `moat-…`.
    pub name: String,
    /// CIDR or service tag.
    pub address_prefix: String,
    /// `Internet` or `VirtualAppliance`.
    pub next_hop_type: String,
    /// Only with `VirtualAppliance`.
    pub next_hop_ip: Option<String>,
}

impl DesiredRoute {
    /// The status form.
    pub fn to_rendered(&self) -> RenderedRoute {
        RenderedRoute {
            name: self.name.clone(),
            address_prefix: self.address_prefix.clone(),
            next_hop_type: self.next_hop_type.clone(),
            next_hop_ip_address: self.next_hop_ip.clone(),
        }
    }
}

/// What the rules depend on besides the ComputeSubnet spec.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The workspace's region (regional service tags such as `Storage.westeurope`).
    pub region: &'a str,
    /// Storage is reached through service endpoints (SMB 445 to the `Storage` tag is then needed).
    pub storage_via_service_endpoint: bool,
}

impl<'a> Context<'a> {
    /// The context of a compute subnet of this workspace: its region and connectivity mode.
    pub fn for_workspace(ws: &'a crate::api::SecureWorkspaceSpec) -> Self {
        Context {
            region: ws.location.as_str(),
            storage_via_service_endpoint: ws.connectivity.mode == crate::api::ConnectivityMode::ServiceEndpoint,
        }
    }
}

/// The NSG rules and routes moat manages for a ComputeSubnet of a workspace, in their stable order.
pub fn for_compute_subnet(
    cs: &ComputeSubnetSpec,
    ws: &crate::api::SecureWorkspaceSpec,
) -> (Vec<DesiredSecurityRule>, Vec<DesiredRoute>) {
    let ctx = Context::for_workspace(ws);
    (security_rules(cs, ctx), routes(cs, ctx))
}

#[allow(clippy::too_many_arguments)]
fn rule(
    name: &str,
    direction: Direction,
    priority: i32,
    protocol: Protocol,
    src: &str,
    dst: &str,
    ports: &[&str],
    description: &str,
) -> DesiredSecurityRule {
    DesiredSecurityRule {
        name: name.to_string(),
        direction,
        priority,
        access: Access::Allow,
        protocol,
        source_address_prefix: src.to_string(),
        source_port_range: "*".to_string(),
        destination_address_prefix: dst.to_string(),
        destination_port_ranges: ports.iter().map(|p| p.to_string()).collect(),
        description: description.to_string(),
    }
}

/// Whether the purpose runs on Azure ML managed compute (Batch-provisioned nodes).
pub fn is_managed_compute(purpose: ComputePurpose) -> bool {
    matches!(purpose, ComputePurpose::Training | ComputePurpose::ComputeInstance)
}

/// The required inbound rules for a purpose (without SSH).
pub fn required_inbound(purpose: ComputePurpose) -> Vec<DesiredSecurityRule> {
    use Direction::Inbound;
    let mut out = Vec::new();
    if is_managed_compute(purpose) {
        out.push(rule(
            "moat-in-batchnodemanagement",
            Inbound,
            300,
            Protocol::Tcp,
            "BatchNodeManagement",
            "VirtualNetwork",
            &["29876-29877"],
            "Azure Batch schedules jobs on the compute nodes (Azure ML docs, Required ports)",
        ));
        out.push(rule(
            "moat-in-azuremachinelearning",
            Inbound,
            310,
            Protocol::Tcp,
            "AzureMachineLearning",
            "VirtualNetwork",
            &["44224"],
            "Azure ML reaches compute instances and clusters on 44224 (Azure ML docs, Required ports)",
        ));
    }
    if purpose == ComputePurpose::Inference {
        out.push(rule(
            "moat-in-scoring",
            Inbound,
            320,
            Protocol::Tcp,
            "VirtualNetwork",
            "VirtualNetwork",
            &["80", "443"],
            "Scoring endpoint of the AKS inference cluster, from the VNet, peered and connected networks",
        ));
    }
    out
}

/// The required outbound rules of `Restricted` mode (without extras and the final deny).
pub fn required_outbound(region: &str, storage_via_service_endpoint: bool) -> Vec<DesiredSecurityRule> {
    use Direction::Outbound;
    let cloud = DnsCloud::from_region(region);
    let storage_ports: &[&str] = if storage_via_service_endpoint { &["443", "445"] } else { &["443"] };
    let mut out = vec![
        rule("moat-out-azureactivedirectory", Outbound, 300, Protocol::Tcp, "VirtualNetwork", "AzureActiveDirectory", &["80", "443"], "Microsoft Entra ID sign-in"),
        rule("moat-out-azuremachinelearning", Outbound, 305, Protocol::Tcp, "VirtualNetwork", "AzureMachineLearning", &["443", "8787", "18881"], "Azure ML service, RStudio, language server"),
        rule("moat-out-azuremachinelearning-udp", Outbound, 306, Protocol::Udp, "VirtualNetwork", "AzureMachineLearning", &["5831"], "Azure ML compute management"),
        rule("moat-out-batchnodemanagement", Outbound, 310, Protocol::Any, "VirtualNetwork", &format!("BatchNodeManagement.{region}"), &["443"], "Azure Batch node management"),
        rule("moat-out-azureresourcemanager", Outbound, 315, Protocol::Tcp, "VirtualNetwork", "AzureResourceManager", &["443"], "Azure Resource Manager"),
        rule("moat-out-storage", Outbound, 320, Protocol::Tcp, "VirtualNetwork", &format!("Storage.{region}"), storage_ports, "Azure Storage in the workspace's region"),
        rule("moat-out-azurecontainerregistry", Outbound, 325, Protocol::Tcp, "VirtualNetwork", &format!("AzureContainerRegistry.{region}"), &["443"], "Azure Container Registry in the workspace's region"),
        rule("moat-out-microsoftcontainerregistry", Outbound, 330, Protocol::Tcp, "VirtualNetwork", "MicrosoftContainerRegistry", &["443"], "Microsoft base images (mcr.microsoft.com)"),
        rule("moat-out-azurefrontdoor-firstparty", Outbound, 331, Protocol::Tcp, "VirtualNetwork", "AzureFrontDoor.FirstParty", &["443"], "Microsoft base images (MCR content delivery)"),
    ];
    if cloud != DnsCloud::China {
        out.push(rule("moat-out-azurefrontdoor-frontend", Outbound, 335, Protocol::Tcp, "VirtualNetwork", "AzureFrontDoor.FrontEnd", &["443"], "Azure ML studio and AutoML assets"));
    }
    out.push(rule("moat-out-azuremonitor", Outbound, 340, Protocol::Tcp, "VirtualNetwork", "AzureMonitor", &["443"], "Azure Monitor and Application Insights"));
    out
}

/// The final outbound deny of `Restricted` mode.
pub fn deny_internet() -> DesiredSecurityRule {
    DesiredSecurityRule {
        access: Access::Deny,
        ..rule(
            "moat-out-deny-internet",
            Direction::Outbound,
            DENY_INTERNET_PRIORITY,
            Protocol::Any,
            "VirtualNetwork",
            "Internet",
            &["*"],
            "Restricted outbound: everything else to the internet is denied",
        )
    }
}

/// Every NSG rule moat manages on a compute subnet, sorted by direction then priority.
pub fn security_rules(spec: &ComputeSubnetSpec, ctx: Context<'_>) -> Vec<DesiredSecurityRule> {
    let mut out = required_inbound(spec.purpose);
    for (i, src) in spec.nsg.ssh_from.iter().enumerate() {
        out.push(rule(
            &format!("moat-in-ssh-{i}"),
            Direction::Inbound,
            SSH_PRIORITY + i as i32,
            Protocol::Tcp,
            src.as_str(),
            "VirtualNetwork",
            &["22"],
            "SSH to the nodes (nsg.sshFrom)",
        ));
    }
    if spec.outbound.mode == OutboundMode::Restricted {
        out.extend(required_outbound(ctx.region, ctx.storage_via_service_endpoint));
    }
    for (i, extra) in spec.outbound.extra_rules.iter().enumerate() {
        let ports: Vec<&str> = extra.ports.iter().map(|p| p.as_str()).collect();
        out.push(rule(
            &format!("moat-out-{}", extra.name),
            Direction::Outbound,
            EXTRA_PRIORITY + i as i32,
            extra.protocol.into(),
            "VirtualNetwork",
            &extra.destination,
            &ports,
            "outbound.extraRules",
        ));
    }
    if spec.outbound.mode == OutboundMode::Restricted {
        out.push(deny_internet());
    }
    out.sort_by(|a, b| (a.direction, a.priority, &a.name).cmp(&(b.direction, b.priority, &b.name)));
    out
}

/// The routes moat manages for forced tunneling: the Batch and Azure ML service tags go to the
/// internet directly, and, with a firewall IP, 0.0.0.0/0 goes to the firewall. Empty without
/// `forcedTunneling`.
pub fn routes(spec: &ComputeSubnetSpec, ctx: Context<'_>) -> Vec<DesiredRoute> {
    let Some(ft) = &spec.forced_tunneling else { return Vec::new() };
    let mut out = vec![
        DesiredRoute {
            name: "moat-batchnodemanagement".into(),
            address_prefix: format!("BatchNodeManagement.{}", ctx.region),
            next_hop_type: "Internet".into(),
            next_hop_ip: None,
        },
        DesiredRoute {
            name: "moat-azuremachinelearning".into(),
            address_prefix: "AzureMachineLearning".into(),
            next_hop_type: "Internet".into(),
            next_hop_ip: None,
        },
    ];
    if let Some(ip) = &ft.firewall_ip {
        out.push(DesiredRoute {
            name: "moat-default-firewall".into(),
            address_prefix: "0.0.0.0/0".into(),
            next_hop_type: "VirtualAppliance".into(),
            next_hop_ip: Some(ip.as_str().to_string()),
        });
    }
    out
}

/// Whether a rule or route name is moat's.
pub fn is_owned(name: &str) -> bool {
    name.len() >= OWNED_PREFIX.len() && name[..OWNED_PREFIX.len()].eq_ignore_ascii_case(OWNED_PREFIX)
}

// ---------------------------------------------------------------------------------------------
// Existing (observed) rules and routes, as ARM returns them, and the checks against them.

/// A security rule as found on an existing NSG (ARM's property names; singular and plural forms).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExistingSecurityRule {
    pub name: String,
    /// `Inbound` or `Outbound`.
    pub direction: String,
    pub priority: i32,
    /// `Allow` or `Deny`.
    pub access: String,
    /// `Tcp`, `Udp`, `Icmp`, `Esp`, `Ah` or `*`.
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_address_prefix: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_address_prefixes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_address_prefix: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_address_prefixes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port_range: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_port_ranges: Vec<String>,
}

impl ExistingSecurityRule {
    fn sources(&self) -> Vec<&str> {
        both(&self.source_address_prefix, &self.source_address_prefixes)
    }
    fn destinations(&self) -> Vec<&str> {
        both(&self.destination_address_prefix, &self.destination_address_prefixes)
    }
    fn ports(&self) -> Vec<&str> {
        both(&self.destination_port_range, &self.destination_port_ranges)
    }
    fn direction(&self) -> Option<Direction> {
        match self.direction.to_ascii_lowercase().as_str() {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
    fn is_deny(&self) -> bool {
        self.access.eq_ignore_ascii_case("deny")
    }
}

fn both<'a>(one: &'a Option<String>, many: &'a [String]) -> Vec<&'a str> {
    let mut v: Vec<&str> = many.iter().map(String::as_str).collect();
    if let Some(s) = one {
        v.push(s.as_str());
    }
    if v.is_empty() {
        // ARM treats a missing address or port as "any".
        v.push("*");
    }
    v
}

/// A route as found in an existing route table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExistingRoute {
    pub name: String,
    pub address_prefix: String,
    pub next_hop_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop_ip_address: Option<String>,
}

/// An inclusive port range.
fn port_range(s: &str) -> Option<(u32, u32)> {
    let s = s.trim();
    if s == "*" || s.eq_ignore_ascii_case("any") {
        return Some((0, 65535));
    }
    match s.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => s.parse().ok().map(|p| (p, p)),
    }
}

fn ports_overlap(a: &[&str], b: &[String]) -> bool {
    a.iter().filter_map(|x| port_range(x)).any(|(a0, a1)| {
        b.iter().filter_map(|y| port_range(y)).any(|(b0, b1)| a0 <= b1 && b0 <= a1)
    })
}

fn protocols_overlap(existing: &str, wanted: Protocol) -> bool {
    let e = existing.trim();
    e == "*" || e.eq_ignore_ascii_case("any") || wanted == Protocol::Any || e.eq_ignore_ascii_case(wanted.as_arm())
}

fn tag_base(s: &str) -> &str {
    s.split('.').next().unwrap_or(s)
}

fn is_service_tag(s: &str) -> bool {
    !s.is_empty() && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && crate::cidr::parse_cidr_or_ip(s).is_none()
}

/// Whether an existing rule's address prefix certainly matches traffic of the wanted prefix.
/// Conservative: `false` whenever it cannot be known offline (a CIDR against a service tag).
/// `subnet` is the compute subnet's prefix, which `VirtualNetwork` on the wanted side stands for.
fn prefix_covers(existing: &str, wanted: &str, subnet: Option<&Ipv4Net>) -> bool {
    let (e, w) = (existing.trim(), wanted.trim());
    if e == "*" || e.eq_ignore_ascii_case("any") || e.eq_ignore_ascii_case(w) {
        return true;
    }
    let w_is_tag = is_service_tag(w);
    // Azure's service tags are public address space, which the Internet tag covers.
    if e.eq_ignore_ascii_case("internet") && w_is_tag && !w.eq_ignore_ascii_case("VirtualNetwork") && !w.eq_ignore_ascii_case("AzureLoadBalancer") {
        return true;
    }
    if is_service_tag(e) && w_is_tag && tag_base(e).eq_ignore_ascii_case(tag_base(w)) {
        return true;
    }
    if let Some(en) = crate::cidr::parse_cidr_or_ip(e) {
        if let Some(wn) = crate::cidr::parse_cidr_or_ip(w) {
            return crate::cidr::overlaps(&en, &wn);
        }
        if w.eq_ignore_ascii_case("VirtualNetwork")
            && let Some(sn) = subnet {
                return crate::cidr::overlaps(&en, sn);
            }
    }
    false
}

/// A foreign Deny rule that is evaluated before (lower priority number than) a required Allow
/// and matches some of its traffic, so the Allow never applies to that traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow<'a> {
    pub required: &'a DesiredSecurityRule,
    pub by: &'a ExistingSecurityRule,
}

/// Every (required Allow, foreign Deny) pair where the Deny shadows the Allow. Rules named
/// `moat-…` are moat's own and are ignored (moat rewrites them).
pub fn shadowed<'a>(
    required: &'a [DesiredSecurityRule],
    existing: &'a [ExistingSecurityRule],
    subnet: Option<&Ipv4Net>,
) -> Vec<Shadow<'a>> {
    let mut out = Vec::new();
    for r in required.iter().filter(|r| r.access == Access::Allow) {
        for e in existing.iter().filter(|e| !is_owned(&e.name) && e.is_deny()) {
            if e.direction() != Some(r.direction) || e.priority >= r.priority {
                continue;
            }
            if !protocols_overlap(&e.protocol, r.protocol) {
                continue;
            }
            if !ports_overlap(&e.ports(), &r.destination_port_ranges) {
                continue;
            }
            // Inbound: the subnet is the destination; outbound: the subnet is the source.
            let src_ok = e.sources().iter().any(|s| prefix_covers(s, &r.source_address_prefix, subnet));
            let dst_ok = e.destinations().iter().any(|d| prefix_covers(d, &r.destination_address_prefix, subnet));
            if src_ok && dst_ok {
                out.push(Shadow { required: r, by: e });
            }
        }
    }
    out
}

/// The priority bands whose rules may move: SSH (350-365) and extra outbound rules (400-431).
const MOVABLE_BANDS: [(i32, i32); 2] = [(SSH_PRIORITY, SSH_PRIORITY + 15), (EXTRA_PRIORITY, EXTRA_PRIORITY + 31)];

/// The rules of an NSG as a GET returns it (`properties.securityRules[]`, each `{name, properties}`).
pub fn existing_rules(nsg: &serde_json::Value) -> Vec<ExistingSecurityRule> {
    nsg.get("properties")
        .and_then(|p| p.get("securityRules"))
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let mut flat = serde_json::Map::new();
            if let Some(n) = r.get("name") {
                flat.insert("name".into(), n.clone());
            }
            if let Some(serde_json::Value::Object(p)) = r.get("properties") {
                flat.extend(p.clone());
            }
            serde_json::from_value(serde_json::Value::Object(flat)).ok()
        })
        .collect()
}

/// Settles the priorities of moat's SSH and extra rules against what an NSG already holds, so a
/// change never needs a priority another rule still has (ARM refuses two rules with one priority in
/// one direction): a rule that exists keeps its priority; a new rule takes the lowest priority of
/// its band that no rule of the NSG (moat's rules about to go included) and no other new rule
/// holds. Removing the first of three extra rules thus moves nothing. Required rules (300-349)
/// and the final deny (4000) never move.
pub fn settle_priorities(desired: &mut [DesiredSecurityRule], existing: &[ExistingSecurityRule]) {
    for (lo, hi) in MOVABLE_BANDS {
        for direction in [Direction::Inbound, Direction::Outbound] {
            let in_band = |p: i32| (lo..=hi).contains(&p);
            let existing_dir: Vec<&ExistingSecurityRule> = existing.iter().filter(|e| e.direction() == Some(direction)).collect();
            let mut taken: Vec<i32> = existing_dir.iter().map(|e| e.priority).collect();
            taken.extend(desired.iter().filter(|d| d.direction == direction && !in_band(d.priority)).map(|d| d.priority));
            let mut settled: Vec<bool> = vec![false; desired.len()];
            // Existing rules keep their place.
            for (i, d) in desired.iter_mut().enumerate() {
                if d.direction != direction || !in_band(d.priority) {
                    continue;
                }
                if let Some(e) = existing_dir.iter().find(|e| e.name.eq_ignore_ascii_case(&d.name) && in_band(e.priority)) {
                    d.priority = e.priority;
                    settled[i] = true;
                }
            }
            let mut assigned: Vec<i32> = desired.iter().zip(&settled).filter(|(d, s)| **s && d.direction == direction).map(|(d, _)| d.priority).collect();
            // New rules take their usual priority when it is free, else the lowest free one.
            for (i, d) in desired.iter_mut().enumerate() {
                if settled[i] || d.direction != direction || !in_band(d.priority) {
                    continue;
                }
                let free = |p: i32| !taken.contains(&p) && !assigned.contains(&p);
                if !free(d.priority)
                    && let Some(p) = (lo..=hi).find(|p| free(*p))
                {
                    d.priority = p;
                }
                assigned.push(d.priority);
            }
        }
    }
    desired.sort_by(|a, b| (a.direction, a.priority, &a.name).cmp(&(b.direction, b.priority, &b.name)));
}

/// Foreign rules that hold a priority moat needs in the same direction (ARM rejects two rules
/// with one priority in one direction), as (moat rule, foreign rule) pairs.
pub fn priority_collisions<'a>(
    desired: &'a [DesiredSecurityRule],
    existing: &'a [ExistingSecurityRule],
) -> Vec<(&'a DesiredSecurityRule, &'a ExistingSecurityRule)> {
    let mut out = Vec::new();
    for d in desired {
        for e in existing.iter().filter(|e| !is_owned(&e.name)) {
            if e.direction() == Some(d.direction) && e.priority == d.priority {
                out.push((d, e));
            }
        }
    }
    out
}

/// Foreign routes with the same address prefix as a moat route but another next hop (a route
/// table holds one route per prefix, so moat's route cannot be added).
pub fn route_conflicts<'a>(desired: &'a [DesiredRoute], existing: &'a [ExistingRoute]) -> Vec<(&'a DesiredRoute, &'a ExistingRoute)> {
    let mut out = Vec::new();
    for d in desired {
        for e in existing.iter().filter(|e| !is_owned(&e.name)) {
            let same_prefix = e.address_prefix.trim().eq_ignore_ascii_case(&d.address_prefix);
            let same_hop = e.next_hop_type.eq_ignore_ascii_case(&d.next_hop_type)
                && e.next_hop_ip_address.as_deref().map(str::trim) == d.next_hop_ip.as_deref();
            if same_prefix && !same_hop {
                out.push((d, e));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ComputeSubnetSpec, LocalObjectRef};

    fn spec(purpose: ComputePurpose, restricted: bool) -> ComputeSubnetSpec {
        ComputeSubnetSpec {
            workspace_ref: LocalObjectRef { name: "ws".into() },
            vnet_id: None,
            name: "snet".into(),
            address_prefix: "10.0.1.0/24".into(),
            purpose,
            expected_nodes: 4,
            nsg: Default::default(),
            outbound: crate::api::OutboundSpec {
                mode: if restricted { OutboundMode::Restricted } else { OutboundMode::Internet },
                extra_rules: vec![],
            },
            forced_tunneling: None,
            aks: None,
        }
    }

    const CTX: Context<'static> = Context { region: "westeurope", storage_via_service_endpoint: false };

    #[test]
    fn training_gets_batch_and_azureml_inbound() {
        let rules = security_rules(&spec(ComputePurpose::Training, false), CTX);
        let batch = rules.iter().find(|r| r.name == "moat-in-batchnodemanagement").unwrap();
        assert_eq!(batch.source_address_prefix, "BatchNodeManagement");
        assert_eq!(batch.destination_port_ranges, vec!["29876-29877"]);
        let aml = rules.iter().find(|r| r.name == "moat-in-azuremachinelearning").unwrap();
        assert_eq!(aml.destination_port_ranges, vec!["44224"]);
        assert!(rules.iter().all(|r| r.direction == Direction::Inbound), "Internet mode adds no outbound rules");
    }

    #[test]
    fn restricted_mode_lists_the_service_tags_and_ends_with_a_deny() {
        let rules = security_rules(&spec(ComputePurpose::Training, true), CTX);
        let dests: Vec<&str> = rules.iter().filter(|r| r.direction == Direction::Outbound).map(|r| r.destination_address_prefix.as_str()).collect();
        for tag in ["Storage.westeurope", "AzureContainerRegistry.westeurope", "AzureMachineLearning", "AzureResourceManager", "AzureActiveDirectory", "MicrosoftContainerRegistry", "BatchNodeManagement.westeurope"] {
            assert!(dests.contains(&tag), "{tag} missing from {dests:?}");
        }
        let last = rules.iter().rfind(|r| r.direction == Direction::Outbound).unwrap();
        assert_eq!(last.name, "moat-out-deny-internet");
        assert_eq!(last.access, Access::Deny);
        assert!(rules.iter().all(|r| is_owned(&r.name)));
    }

    #[test]
    fn priorities_are_unique_per_direction() {
        let mut s = spec(ComputePurpose::ComputeInstance, true);
        s.nsg.ssh_from = vec!["10.1.0.0/24".into(), "10.2.0.0/24".into()];
        let rules = security_rules(&s, CTX);
        let mut seen = std::collections::HashSet::new();
        for r in &rules {
            assert!(seen.insert((r.direction, r.priority)), "duplicate priority {r:?}");
            assert!((100..=4096).contains(&r.priority));
        }
    }

    #[test]
    fn a_lower_numbered_foreign_deny_shadows_a_required_allow() {
        let rules = required_inbound(ComputePurpose::Training);
        let deny = ExistingSecurityRule {
            name: "deny-all-in".into(),
            direction: "Inbound".into(),
            priority: 200,
            access: "Deny".into(),
            protocol: "*".into(),
            source_address_prefix: Some("*".into()),
            destination_address_prefix: Some("*".into()),
            destination_port_range: Some("*".into()),
            ..Default::default()
        };
        let later = ExistingSecurityRule { priority: 4000, ..deny.clone() };
        let shadows = shadowed(&rules, std::slice::from_ref(&deny), None);
        assert_eq!(shadows.len(), 2);
        assert!(shadowed(&rules, &[later], None).is_empty());
    }

    #[test]
    fn settled_priorities_never_collide_mid_change() {
        let mut sp = spec(ComputePurpose::Training, true);
        let extra = |name: &str| crate::api::OutboundRule { name: name.into(), destination: "10.30.0.4".into(), ports: vec!["443".into()], protocol: crate::api::RuleProtocol::Tcp };
        sp.outbound.extra_rules = vec![extra("a"), extra("b"), extra("c")];
        let before = security_rules(&sp, CTX);
        let existing: Vec<ExistingSecurityRule> = before
            .iter()
            .map(|r| ExistingSecurityRule { name: r.name.clone(), direction: r.direction.to_string(), priority: r.priority, access: r.access.to_string(), ..Default::default() })
            .collect();
        // Remove the first extra rule and add a new one: b and c keep 401 and 402; d takes a
        // priority nobody holds (a's 400 is still there until a goes).
        sp.outbound.extra_rules = vec![extra("b"), extra("c"), extra("d")];
        let mut after = security_rules(&sp, CTX);
        settle_priorities(&mut after, &existing);
        let p = |n: &str| after.iter().find(|r| r.name == n).map(|r| r.priority);
        assert_eq!((p("moat-out-b"), p("moat-out-c")), (Some(401), Some(402)));
        let d = p("moat-out-d").unwrap_or(0);
        assert!((403..=431).contains(&d), "d at {d}");
        let mut seen = std::collections::HashSet::new();
        assert!(after.iter().all(|r| seen.insert((r.direction, r.priority))), "no two rules share a priority");
    }

    #[test]
    fn forced_tunneling_routes() {
        let mut s = spec(ComputePurpose::Training, false);
        assert!(routes(&s, CTX).is_empty());
        s.forced_tunneling = Some(crate::api::ForcedTunnelingSpec { firewall_ip: Some("10.9.0.4".into()), ..Default::default() });
        let r = routes(&s, CTX);
        assert_eq!(r[0].address_prefix, "BatchNodeManagement.westeurope");
        assert_eq!(r[1].address_prefix, "AzureMachineLearning");
        assert!(r[..2].iter().all(|r| r.next_hop_type == "Internet"));
        assert_eq!(r[2].next_hop_ip.as_deref(), Some("10.9.0.4"));
    }
}
