//! The CRDs' admission rules (OpenAPI bounds and CEL `x-kubernetes-validations` in `src/api`),
//! mirrored in Rust so that `moat validate` gives the same answers with no cluster. Kubernetes'
//! own CEL stays authoritative at admission; each check here names the CEL rule it mirrors.
//!
//! Create-only rules (`self == oldSelf` immutability) need the old object and are not mirrored.

use super::catalog::*;
use super::{Finding, ObjectRef, Rule};
use crate::api::{
    ComputePurpose, ComputeSubnet, EndpointDnsMode, PrivateEndpointBinding, RegistrySku, SecureWorkspace,
};
use crate::cidr;
use regex::Regex;
use std::sync::LazyLock;

fn re(pattern: &str) -> Regex {
    // Every pattern below is a literal that compiles; a failure would be a programming error caught by tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in pattern {pattern}: {e}"))
}

// RE2 `\w` is ASCII; the Rust patterns spell the classes out.
static UUID: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"));
static ARM_ID: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^/subscriptions/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/resourceGroups/[-A-Za-z0-9_.()]+/providers/[A-Za-z]+\.[A-Za-z.]+/[A-Za-z]+/[^/]+(/[A-Za-z]+/[^/]+)*$")
});
static LOCATION: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z][a-z0-9]*$"));
static RESOURCE_GROUP: LazyLock<Regex> = LazyLock::new(|| re(r"^[-A-Za-z0-9_.()]{1,90}$"));
static VNET_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}[A-Za-z0-9_]$"));
static SUBNET_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,78}[A-Za-z0-9_]$"));
static WORKSPACE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$"));
static STORAGE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9]{3,24}$"));
static VAULT_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"));
static REGISTRY_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9]{5,50}$"));
static OBJECT_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"));
static INSIGHTS_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[^%&\\?/]{1,255}$"));
static EXTRA_RULE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,40}$"));
static SERVICE_TAG: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)?$"));
static PORT: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]{1,5}(-[0-9]{1,5})?$"));
static ZONE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^(?i)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$"));

/// The resource types of the id fields, as the CRDs' type rules spell them.
const T_VNET: &str = "Microsoft.Network/virtualNetworks";
const T_STORAGE: &str = "Microsoft.Storage/storageAccounts";
const T_VAULT: &str = "Microsoft.KeyVault/vaults";
const T_REGISTRY: &str = "Microsoft.ContainerRegistry/registries";
const T_INSIGHTS: &str = "Microsoft.Insights/components";
const T_NSG: &str = "Microsoft.Network/networkSecurityGroups";
const T_ROUTES: &str = "Microsoft.Network/routeTables";

struct Checker<'a> {
    obj: ObjectRef,
    out: &'a mut Vec<Finding>,
}

impl Checker<'_> {
    fn push(&mut self, rule: &'static Rule, field: &str, message: String, fix: &str) {
        self.out.push(Finding::new(rule, self.obj.clone(), message, fix).at(field));
    }

    /// CEL `isCIDR(self) && family 4 && canonical`, plus `maxLength: 18`.
    fn cidr(&mut self, field: &str, value: &str) -> Option<ipnet::Ipv4Net> {
        match cidr::parse_canonical(value) {
            Ok(n) if value.len() <= 18 => Some(n),
            Ok(_) => {
                self.push(&SCHEMA_003, field, format!("{field} {value:?} is longer than 18 characters"), "write the CIDR without spaces or leading zeros, such as 10.0.0.0/16");
                None
            }
            Err(cidr::CidrError::HostBits { canonical, .. }) => {
                self.push(&SCHEMA_003, field, format!("{field} {value} has host bits set"), &format!("use the network address: {canonical}"));
                None
            }
            Err(_) => {
                self.push(&SCHEMA_003, field, format!("{field} {value:?} is not an IPv4 CIDR"), "write an IPv4 CIDR such as 10.0.0.0/16");
                None
            }
        }
    }

    /// CEL `isCIDR(self) && family 4` (host bits allowed), plus `maxLength: 18`; the network.
    fn address_with_prefix(&mut self, field: &str, value: &str) -> Option<ipnet::Ipv4Net> {
        match value.parse::<ipnet::Ipv4Net>() {
            Ok(n) if value.len() <= 18 => Some(n.trunc()),
            _ => {
                self.push(&SCHEMA_003, field, format!("{field} {value:?} is not an IPv4 address with a prefix length"), "write the address and its prefix length, such as 172.17.0.1/16");
                None
            }
        }
    }

    /// PortRange's CEL: `*`, a port from 1 to 65535, or `low-high` with low <= high.
    fn port(&mut self, field: &str, value: &str) {
        if value == "*" {
            return;
        }
        let parsed = PORT.is_match(value).then(|| {
            let mut it = value.split('-').map(|p| p.parse::<u32>().unwrap_or(0));
            let low = it.next().unwrap_or(0);
            (low, it.next().unwrap_or(low))
        });
        let problem = match parsed {
            None => Some(format!("{value:?} is not a port, a range or *")),
            Some((low, high)) if !(1..=65535).contains(&low) || !(1..=65535).contains(&high) => {
                Some(format!("{value:?} is outside 1-65535"))
            }
            Some((low, high)) if low > high => Some(format!("{value:?} is a range whose low end {low} is above its high end {high}")),
            Some(_) => None,
        };
        if let Some(p) = problem {
            self.push(&SCHEMA_021, field, format!("{field} entry {p}"), "use ports 1 to 65535, ranges written low-high such as 8000-8100, or *");
        }
    }

    fn ipv4(&mut self, field: &str, value: &str) -> Option<std::net::Ipv4Addr> {
        match value.parse::<std::net::Ipv4Addr>() {
            Ok(ip) if value.len() <= 15 => Some(ip),
            _ => {
                self.push(&SCHEMA_004, field, format!("{field} {value:?} is not an IPv4 address"), "write an IPv4 address such as 10.0.0.10");
                None
            }
        }
    }

    /// ArmId form (`SCHEMA-006`) and, when `ty` is given, the resource type (`SCHEMA-007`).
    fn arm_id(&mut self, field: &str, value: &str, ty: Option<&str>) {
        if value.split('/').any(|seg| seg == "." || seg == "..") {
            self.push(
                &SCHEMA_006,
                field,
                format!("{field} {value:?} contains a '.' or '..' segment"),
                "write the resource's own id, segment by segment, without '.' or '..'",
            );
            return;
        }
        if value.len() > 1024 || !ARM_ID.is_match(value) {
            self.push(
                &SCHEMA_006,
                field,
                format!("{field} {value:?} is not an ARM resource id"),
                "use the full id: /subscriptions/<uuid>/resourceGroups/<rg>/providers/<Namespace>/<type>/<name>",
            );
            return;
        }
        if let Some(ty) = ty
            && !super::arm::is_type(value, ty) {
                self.push(&SCHEMA_007, field, format!("{field} must be the id of a {ty} resource, got {value}"), &format!("give the id of a {ty}"));
            }
    }

    fn name(&mut self, field: &str, value: &str, re: &Regex, max: usize, what: &str) {
        if value.chars().count() > max || !re.is_match(value) {
            self.push(&SCHEMA_011, field, format!("{field} {value:?} is not a valid name: {what}"), &format!("rename it: {what}"));
        }
    }

    fn max_len(&mut self, field: &str, len: usize, max: usize) {
        if len > max {
            self.push(&SCHEMA_023, field, format!("{field} has {len} entries, at most {max} are allowed"), &format!("keep at most {max}"));
        }
    }

    fn one_of(&mut self, field: &str, has_name: bool, has_id: bool, exactly: bool) {
        let bad = if exactly { has_name == has_id } else { has_name && has_id };
        if bad {
            let msg = if has_name && has_id {
                format!("{field} sets both name and id")
            } else {
                format!("{field} sets neither name nor id")
            };
            let fix = if exactly {
                format!("set exactly one of {field}.name (moat creates it) or {field}.id (moat adopts it)")
            } else {
                format!("set at most one of {field}.name and {field}.id")
            };
            self.push(&SCHEMA_009, field, msg, &fix);
        }
    }

    /// The tags CEL: at most 40, names up to 128 characters without `<>%&?/\`, values up to 256.
    fn tags(&mut self, field: &str, tags: &std::collections::BTreeMap<String, String>) {
        self.max_len(field, tags.len(), 40);
        for (k, v) in tags {
            if k.chars().count() > 128 || k.chars().any(|c| "<>%&?/\\".contains(c)) {
                self.push(&SCHEMA_011, field, format!("{field} name {k:?} is longer than 128 characters or contains one of < > % & ? / \\"), "use tag names of at most 128 characters without < > % & ? / or a backslash");
            }
            if v.chars().count() > 256 {
                self.push(&SCHEMA_011, field, format!("{field} {k} has a value of {} characters; Azure allows 256", v.chars().count()), "shorten the tag value to 256 characters");
            }
        }
    }

    /// A resource group name (CEL on resourceGroup and zoneResourceGroup fields).
    fn resource_group(&mut self, field: &str, value: &str) {
        if !RESOURCE_GROUP.is_match(value) || value.ends_with('.') {
            self.push(&SCHEMA_011, field, format!("{field} {value:?} is not a valid resource group name"), "use 1-90 letters, digits, underscores, hyphens, periods or parentheses, not ending in a period");
        }
    }

    fn location(&mut self, field: &str, value: &str) {
        if value.len() > 40 || !LOCATION.is_match(value) {
            self.push(&SCHEMA_008, field, format!("{field} {value:?} is not an Azure region name"), "use the region's ARM name, lower case without spaces, such as westeurope");
        }
    }

    fn metadata_name(&mut self, name: Option<&str>) {
        match name {
            None | Some("") => self.push(&SCHEMA_001, "metadata.name", "metadata.name is missing".to_string(), "give the object a name"),
            Some(n) if n.len() > 253 || !OBJECT_NAME.is_match(n) => self.push(
                &SCHEMA_011,
                "metadata.name",
                format!("metadata.name {:?} is not a Kubernetes object name (at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)", n.chars().take(64).collect::<String>()),
                "rename the object: lower-case letters, digits, '-' and '.', at most 253 characters",
            ),
            Some(_) => {}
        }
    }
}

/// Schema checks of a SecureWorkspace.
pub fn check_workspace(ws: &SecureWorkspace) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut c = Checker { obj: ObjectRef::workspace(ws), out: &mut out };
    c.metadata_name(ws.metadata.name.as_deref());
    let s = &ws.spec;
    if !UUID.is_match(s.subscription_id.as_str()) {
        c.push(&SCHEMA_005, "spec.subscriptionId", format!("spec.subscriptionId {:?} is not a UUID", s.subscription_id.as_str()), "use the subscription id, 8-4-4-4-12 hexadecimal digits");
    }
    if !RESOURCE_GROUP.is_match(&s.resource_group) || s.resource_group.ends_with('.') {
        c.push(&SCHEMA_011, "spec.resourceGroup", format!("spec.resourceGroup {:?} is not a valid resource group name", s.resource_group), "use 1-90 letters, digits, underscores, hyphens, periods or parentheses, not ending in a period");
    }
    c.location("spec.location", s.location.as_str());
    if ws.metadata.name.as_deref().is_some_and(|n| n.chars().count() > 63) {
        c.push(&SCHEMA_011, "metadata.name", format!("metadata.name is {} characters; at most 63 (it labels the workspace's PrivateEndpointBindings)", ws.metadata.name.as_deref().map(|n| n.chars().count()).unwrap_or(0)), "use a name of at most 63 characters");
    }
    c.tags("spec.tags", &s.tags);
    if let Some(rg) = &s.dns.zone_resource_group {
        c.resource_group("spec.dns.zoneResourceGroup", rg);
    }
    let services: Vec<&str> = s.storage.private_endpoints.iter().map(|e| e.group_id().as_str()).collect();
    if !(services.contains(&"blob") && services.contains(&"file")) {
        c.push(&SCHEMA_024, "spec.storage.privateEndpoints", format!("spec.storage.privateEndpoints is [{}]; it must include blob and file: the workspace's default datastores use both", services.join(", ")), "list blob and file (and queue, table or dfs when jobs use them)");
    }
    for (i, svc) in services.iter().enumerate() {
        if services[..i].contains(svc) {
            c.push(&SCHEMA_024, "spec.storage.privateEndpoints", format!("spec.storage.privateEndpoints lists {svc} twice"), "list each service once");
        }
    }

    // network.vnet
    let v = &s.network.vnet;
    c.one_of("spec.network.vnet", v.name.is_some(), v.id.is_some(), true);
    if let Some(n) = &v.name {
        c.name("spec.network.vnet.name", n, &VNET_NAME, 64, "2-64 letters, digits, underscores, periods or hyphens, starting with a letter or digit and ending with a letter, digit or underscore");
        if v.address_space.is_none() {
            c.push(&SCHEMA_010, "spec.network.vnet.addressSpace", "spec.network.vnet.addressSpace is missing; moat creates the VNet (vnet.name is set) and needs its ranges".into(), "give one or more IPv4 CIDR ranges such as 10.0.0.0/16");
        }
    }
    if let Some(id) = &v.id {
        c.arm_id("spec.network.vnet.id", id.as_str(), Some(T_VNET));
    }
    let mut spaces = Vec::new();
    if let Some(space) = &v.address_space {
        if space.is_empty() || space.len() > 16 {
            c.push(&SCHEMA_010, "spec.network.vnet.addressSpace", format!("spec.network.vnet.addressSpace has {} ranges; 1 to 16 are allowed", space.len()), "give between 1 and 16 ranges");
        }
        for (i, a) in space.iter().enumerate() {
            if let Some(n) = c.cidr(&format!("spec.network.vnet.addressSpace[{i}]"), a.as_str()) {
                spaces.push((i, a.as_str(), n));
            }
        }
        // CEL: all pairs a != b (as strings) must not contain one another.
        for (x, (i, a, na)) in spaces.iter().enumerate() {
            for (j, b, nb) in spaces.iter().skip(x + 1) {
                if a != b && cidr::overlaps(na, nb) {
                    c.push(&SCHEMA_013, &format!("spec.network.vnet.addressSpace[{j}]"), format!("spec.network.vnet.addressSpace ranges {a} (index {i}) and {b} (index {j}) overlap"), "remove or shrink one of the overlapping ranges");
                }
            }
        }
    }
    let pe = &s.network.private_endpoint_subnet;
    c.name("spec.network.privateEndpointSubnet.name", &pe.name, &SUBNET_NAME, 80, "2-80 letters, digits, underscores, periods or hyphens, ending with a letter, digit or underscore");
    if let Some(p) = c.cidr("spec.network.privateEndpointSubnet.addressPrefix", pe.address_prefix.as_str()) {
        // CEL: only when every range involved parses (isCIDR guards); an unparsable range already has its finding.
        if v.address_space.as_ref().is_some_and(|sp| !sp.is_empty()) && !spaces.iter().any(|(_, _, n)| cidr::contains(n, &p)) {
            let list: Vec<&str> = spaces.iter().map(|(_, a, _)| *a).collect();
            c.push(&SCHEMA_012, "spec.network.privateEndpointSubnet.addressPrefix", format!("private-endpoint subnet {p} is outside the VNet's address space {}", list.join(", ")), "choose a prefix inside the VNet's address space, or add a range that contains it");
        }
    }

    c.name("spec.workspace.name", &s.workspace.name, &WORKSPACE_NAME, 33, "3-33 letters, digits, underscores or hyphens, starting with a letter or digit");

    let st = &s.storage;
    c.one_of("spec.storage", st.name.is_some(), st.id.is_some(), true);
    if let Some(n) = &st.name {
        c.name("spec.storage.name", n, &STORAGE_NAME, 24, "3-24 lower-case letters and digits");
    }
    if let Some(id) = &st.id {
        c.arm_id("spec.storage.id", id.as_str(), Some(T_STORAGE));
    }
    let kv = &s.key_vault;
    c.one_of("spec.keyVault", kv.name.is_some(), kv.id.is_some(), true);
    if let Some(n) = &kv.name {
        if n.contains("--") {
            c.push(&SCHEMA_011, "spec.keyVault.name", format!("spec.keyVault.name {n:?} contains a double hyphen"), "use single hyphens");
        } else {
            c.name("spec.keyVault.name", n, &VAULT_NAME, 24, "3-24 letters, digits and single hyphens, starting with a letter and ending with a letter or digit");
        }
    }
    if let Some(id) = &kv.id {
        c.arm_id("spec.keyVault.id", id.as_str(), Some(T_VAULT));
    }
    let cr = &s.container_registry;
    c.one_of("spec.containerRegistry", cr.name.is_some(), cr.id.is_some(), true);
    if let Some(n) = &cr.name {
        c.name("spec.containerRegistry.name", n, &REGISTRY_NAME, 50, "5-50 letters and digits");
    }
    if let Some(id) = &cr.id {
        c.arm_id("spec.containerRegistry.id", id.as_str(), Some(T_REGISTRY));
    }
    if cr.sku != RegistrySku::Premium && cr.id.is_none() {
        c.push(&SCHEMA_014, "spec.containerRegistry.sku", format!("spec.containerRegistry.sku is {:?}; private endpoints need Premium", cr.sku), "set containerRegistry.sku: Premium");
    }
    let ai = &s.application_insights;
    c.one_of("spec.applicationInsights", ai.name.is_some(), ai.id.is_some(), true);
    if let Some(n) = &ai.name {
        c.name("spec.applicationInsights.name", n, &INSIGHTS_NAME, 255, "1-255 characters without %, &, backslash, ? or /");
    }
    if let Some(id) = &ai.id {
        c.arm_id("spec.applicationInsights.id", id.as_str(), Some(T_INSIGHTS));
    }
    out
}

/// Schema checks of a ComputeSubnet.
pub fn check_compute_subnet(cs: &ComputeSubnet) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut c = Checker { obj: ObjectRef::compute_subnet(cs), out: &mut out };
    c.metadata_name(cs.metadata.name.as_deref());
    let s = &cs.spec;
    if let Some(id) = &s.vnet_id {
        c.arm_id("spec.vnetId", id.as_str(), Some(T_VNET));
    }
    c.name("spec.name", &s.name, &SUBNET_NAME, 80, "2-80 letters, digits, underscores, periods or hyphens, ending with a letter, digit or underscore");
    if s.nsg.name.is_none() && s.nsg.id.is_none() && s.name.chars().count() > 76 {
        c.push(&SCHEMA_011, "spec.nsg", format!("spec.name is {} characters, so the default NSG name {}-nsg would pass Azure's 80", s.name.chars().count(), s.name), "set nsg.name");
    }
    if s.forced_tunneling.as_ref().is_some_and(|f| f.route_table_name.is_none() && f.route_table_id.is_none()) && s.name.chars().count() > 77 {
        c.push(&SCHEMA_011, "spec.forcedTunneling", format!("spec.name is {} characters, so the default route table name {}-rt would pass Azure's 80", s.name.chars().count(), s.name), "set forcedTunneling.routeTableName");
    }
    let prefix = c.cidr("spec.addressPrefix", s.address_prefix.as_str());
    if !(0..=100_000).contains(&s.expected_nodes) {
        c.push(&SCHEMA_023, "spec.expectedNodes", format!("spec.expectedNodes is {}; it must be between 0 and 100000", s.expected_nodes), "give the number of nodes, 0 to 100000");
    }
    c.one_of("spec.nsg", s.nsg.name.is_some(), s.nsg.id.is_some(), false);
    if let Some(n) = &s.nsg.name {
        c.name("spec.nsg.name", n, &SUBNET_NAME, 80, "2-80 letters, digits, underscores, periods or hyphens");
    }
    if let Some(id) = &s.nsg.id {
        c.arm_id("spec.nsg.id", id.as_str(), Some(T_NSG));
    }
    c.max_len("spec.nsg.sshFrom", s.nsg.ssh_from.len(), 16);
    for (i, src) in s.nsg.ssh_from.iter().enumerate() {
        c.cidr(&format!("spec.nsg.sshFrom[{i}]"), src.as_str());
    }
    let extra = &s.outbound.extra_rules;
    c.max_len("spec.outbound.extraRules", extra.len(), 32);
    for (i, r) in extra.iter().enumerate() {
        let f = format!("spec.outbound.extraRules[{i}]");
        if extra.iter().filter(|o| o.name == r.name).count() > 1 {
            c.push(&SCHEMA_021, &format!("{f}.name"), format!("outbound.extraRules name {:?} is used more than once", r.name), "give every extra rule its own name");
        }
        if r.name.len() > 41 || !EXTRA_RULE_NAME.is_match(&r.name) {
            c.push(&SCHEMA_021, &format!("{f}.name"), format!("{f}.name {:?} is not 1-41 letters, digits or hyphens", r.name), "rename it: 1-41 letters, digits or hyphens, starting with a letter or digit");
        }
        let d = r.destination.as_str();
        let is_net = d.parse::<ipnet::IpNet>().is_ok() || d.parse::<std::net::IpAddr>().is_ok();
        if d.len() > 64 || !(is_net || SERVICE_TAG.is_match(d)) {
            c.push(&SCHEMA_021, &format!("{f}.destination"), format!("{f}.destination {d:?} is not a service tag, IPv4 address or CIDR"), "use a service tag such as AzureMonitor or Storage.westeurope, an IPv4 address or a CIDR");
        }
        if r.ports.is_empty() || r.ports.len() > 16 {
            c.push(&SCHEMA_023, &format!("{f}.ports"), format!("{f}.ports has {} entries; 1 to 16 are allowed", r.ports.len()), "list between 1 and 16 ports or ranges");
        }
        for p in &r.ports {
            c.port(&format!("{f}.ports"), p);
        }
    }
    if let Some(ft) = &s.forced_tunneling {
        c.one_of("spec.forcedTunneling.routeTable", ft.route_table_name.is_some(), ft.route_table_id.is_some(), false);
        if let Some(n) = &ft.route_table_name
            && n.chars().count() > 80 {
                c.push(&SCHEMA_023, "spec.forcedTunneling.routeTableName", format!("spec.forcedTunneling.routeTableName is {} characters long; at most 80", n.chars().count()), "shorten it to 80 characters");
            }
        if let Some(id) = &ft.route_table_id {
            c.arm_id("spec.forcedTunneling.routeTableId", id.as_str(), Some(T_ROUTES));
        }
        if let Some(ip) = &ft.firewall_ip {
            c.ipv4("spec.forcedTunneling.firewallIp", ip.as_str());
        }
    }
    if let Some(aks) = &s.aks {
        if s.purpose != ComputePurpose::Inference {
            c.push(&SCHEMA_015, "spec.aks", format!("spec.aks is set on a subnet of purpose {}", s.purpose.as_str()), "remove aks or set purpose: Inference");
        }
        let svc = c.cidr("spec.aks.serviceCidr", aks.service_cidr.as_str());
        let dns = c.ipv4("spec.aks.dnsServiceIP", aks.dns_service_ip.as_str());
        let bridge = aks.docker_bridge_cidr.as_ref().and_then(|b| c.address_with_prefix("spec.aks.dockerBridgeCidr", b.as_str()));
        if let (Some(svc), Some(p)) = (svc, prefix)
            && cidr::overlaps(&svc, &p) {
                c.push(&SCHEMA_016, "spec.aks.serviceCidr", format!("aks.serviceCidr {svc} overlaps the subnet's addressPrefix {p}"), "pick a service range outside the VNet, such as 10.250.0.0/16");
            }
        if let (Some(b), Some(p)) = (bridge, prefix)
            && cidr::overlaps(&b, &p) {
                c.push(&SCHEMA_017, "spec.aks.dockerBridgeCidr", format!("aks.dockerBridgeCidr {b} overlaps the subnet's addressPrefix {p}"), "pick a bridge address outside the subnet, such as 172.17.0.1/16");
            }
        if let (Some(svc), Some(ip)) = (svc, dns)
            && !cidr::contains_ip(&svc, ip) {
                c.push(&SCHEMA_018, "spec.aks.dnsServiceIP", format!("aks.dnsServiceIP {ip} is outside aks.serviceCidr {svc} ({} - {})", svc.network(), svc.broadcast()), &format!("pick an address inside {svc}, such as {}", std::net::Ipv4Addr::from(cidr::first(&svc).saturating_add(10).min(cidr::last(&svc)))));
            }
        if let (Some(svc), Some(b)) = (svc, bridge)
            && cidr::overlaps(&svc, &b) {
                c.push(&SCHEMA_019, "spec.aks.dockerBridgeCidr", format!("aks.dockerBridgeCidr {b} overlaps aks.serviceCidr {svc}"), "pick a bridge range outside the service range");
            }
    }
    out
}

/// Schema checks of a PrivateEndpointBinding.
pub fn check_endpoint(peb: &PrivateEndpointBinding) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut c = Checker { obj: ObjectRef::endpoint(peb), out: &mut out };
    c.metadata_name(peb.metadata.name.as_deref());
    let s = &peb.spec;
    let target = s.target.id.as_str();
    let before = c.out.len();
    c.arm_id("spec.target.id", target, None);
    if c.out.len() == before {
        let ty = s.target.group_id.target_type();
        if !super::arm::is_type(target, ty) {
            c.push(&SCHEMA_020, "spec.target.groupId", format!("groupId {} needs a {ty} target, but target.id is {target}", s.target.group_id), &format!("point target.id at a {ty}, or pick the groupId of the target's type"));
        }
    }
    let subnet = s.subnet_id.as_str();
    let before = c.out.len();
    c.arm_id("spec.subnetId", subnet, None);
    if c.out.len() == before && super::arm::vnet_of_subnet(subnet).is_none() {
        c.push(&SCHEMA_007, "spec.subnetId", format!("spec.subnetId must be the id of a subnet (…/virtualNetworks/<vnet>/subnets/<subnet>), got {subnet}"), "give the subnet's id");
    }
    c.location("spec.location", s.location.as_str());
    if s.private_endpoint_name.is_none() && peb.metadata.name.as_deref().is_some_and(|n| n.chars().count() > 80) {
        c.push(&SCHEMA_011, "metadata.name", "metadata.name is longer than 80 characters, the longest private endpoint name Azure accepts".into(), "set spec.privateEndpointName");
    }
    c.tags("spec.tags", &s.tags);
    if let Some(rg) = &s.resource_group {
        c.resource_group("spec.resourceGroup", rg);
    }
    if let Some(rg) = &s.dns.zone_resource_group {
        c.resource_group("spec.dns.zoneResourceGroup", rg);
    }
    for (i, z) in s.dns.zones.iter().flatten().enumerate() {
        if z.len() > 253 || !ZONE_NAME.is_match(z) {
            c.push(&SCHEMA_011, &format!("spec.dns.zones[{i}]"), format!("spec.dns.zones[{i}] {z:?} is not a DNS zone name"), "use a zone name such as privatelink.blob.core.windows.net");
        }
    }
    if let Some(n) = &s.private_endpoint_name {
        c.name("spec.privateEndpointName", n, &SUBNET_NAME, 80, "2-80 letters, digits, underscores, periods or hyphens");
    }
    if let Some(rg) = &s.resource_group
        && rg.chars().count() > 90 {
            c.push(&SCHEMA_023, "spec.resourceGroup", format!("spec.resourceGroup is {} characters long; at most 90", rg.chars().count()), "shorten it to 90 characters");
        }
    if let Some(zones) = &s.dns.zones {
        if s.dns.mode == EndpointDnsMode::AzurePrivateDns && zones.is_empty() {
            c.push(&SCHEMA_022, "spec.dns.zones", "spec.dns.zones is an empty list in AzurePrivateDns mode".into(), "omit dns.zones to use the zones for the groupId, or set dns.mode: None");
        }
        c.max_len("spec.dns.zones", zones.len(), 8);
    }
    c.max_len("spec.dns.linkVnetIds", s.dns.link_vnet_ids.len(), 16);
    for (i, id) in s.dns.link_vnet_ids.iter().enumerate() {
        c.arm_id(&format!("spec.dns.linkVnetIds[{i}]"), id.as_str(), Some(T_VNET));
    }
    if let Some(m) = s.manual_approval.as_ref().and_then(|m| m.request_message.as_ref())
        && m.chars().count() > 140 {
            c.push(&SCHEMA_023, "spec.manualApproval.requestMessage", format!("spec.manualApproval.requestMessage is {} characters long; at most 140", m.chars().count()), "shorten the message to 140 characters");
        }
    out
}
