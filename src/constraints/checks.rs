//! The catalog's checks, by object. Each check names its rule; the messages carry the figures.

use super::arm;
use super::catalog::*;
use super::{Finding, ObjectRef, Observed};
use crate::api::{
    ComputePurpose, ComputeSubnet, ConnectivityMode, DnsMode, EndpointDnsMode, GroupId, OutboundMode,
    PrivateEndpointBinding, PublicNetworkAccess, SecureWorkspace,
};
use crate::cidr;
use crate::netrules::{self, Direction};
use crate::privatelink::{self, DnsCloud, EndpointTarget};
use ipnet::Ipv4Net;
use kube::ResourceExt;
use std::net::Ipv4Addr;

const ACI_DELEGATION: &str = "Microsoft.ContainerInstance/containerGroups";
const DATABRICKS_DELEGATION: &str = "Microsoft.Databricks/workspaces";
/// AKS's default service range and Docker bridge when `aks` is not given.
const AKS_DEFAULT_SERVICE_CIDR: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 16);
/// More public addresses than this (a /16) in a Restricted extra rule reopen the internet (NSG-005).
const WIDE_PUBLIC: u64 = 1 << 16;
/// Placeholder for the workspace GUID before the workspace exists.
const WORKSPACE_ID_PLACEHOLDER: &str = "<workspace-id>";

// ---------------------------------------------------------------------------------------------
// Facts derived from a SecureWorkspace.

/// The ARM id of the workspace's VNet (adopted id, or the id moat gives the VNet it creates).
pub(super) fn ws_vnet_id(ws: &SecureWorkspace) -> String {
    let s = &ws.spec;
    match (&s.network.vnet.id, &s.network.vnet.name) {
        (Some(id), _) => id.as_str().to_string(),
        (None, Some(name)) => arm::vnet_id(s.subscription_id.as_str(), &s.resource_group, name),
        (None, None) => arm::vnet_id(s.subscription_id.as_str(), &s.resource_group, "<vnet>"),
    }
}

fn ws_pe_subnet_id(ws: &SecureWorkspace) -> String {
    format!("{}/subnets/{}", ws_vnet_id(ws), ws.spec.network.private_endpoint_subnet.name)
}

fn created_or_adopted(ws: &SecureWorkspace, id: Option<&str>, name: Option<&str>, ty: &str) -> Option<String> {
    match (id, name) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(n)) => Some(arm::resource_id(ws.spec.subscription_id.as_str(), &ws.spec.resource_group, ty, n)),
        _ => None,
    }
}

fn storage_id(ws: &SecureWorkspace) -> Option<String> {
    let s = &ws.spec.storage;
    created_or_adopted(ws, s.id.as_ref().map(|i| i.as_str()), s.name.as_deref(), "Microsoft.Storage/storageAccounts")
}
fn vault_id(ws: &SecureWorkspace) -> Option<String> {
    let s = &ws.spec.key_vault;
    created_or_adopted(ws, s.id.as_ref().map(|i| i.as_str()), s.name.as_deref(), "Microsoft.KeyVault/vaults")
}
fn registry_id(ws: &SecureWorkspace) -> Option<String> {
    let s = &ws.spec.container_registry;
    created_or_adopted(ws, s.id.as_ref().map(|i| i.as_str()), s.name.as_deref(), "Microsoft.ContainerRegistry/registries")
}
fn workspace_arm_id(ws: &SecureWorkspace) -> String {
    arm::resource_id(ws.spec.subscription_id.as_str(), &ws.spec.resource_group, "Microsoft.MachineLearningServices/workspaces", &ws.spec.workspace.name)
}

fn parse_all<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<Ipv4Net> {
    items.into_iter().filter_map(|s| cidr::parse_canonical(s).ok()).collect()
}

/// The VNet's address space: the spec's ranges when moat creates it or they are given, else observed.
fn ws_address_space(ws: &SecureWorkspace, observed: &Observed) -> Vec<Ipv4Net> {
    match &ws.spec.network.vnet.address_space {
        Some(a) if !a.is_empty() => parse_all(a.iter().map(|c| c.as_str())),
        _ => observed.vnet(&ws_vnet_id(ws)).map(|v| parse_all(v.address_space.iter().map(String::as_str))).unwrap_or_default(),
    }
}

fn list(nets: &[Ipv4Net]) -> String {
    nets.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Addresses a private endpoint of a groupId takes in its subnet.
fn endpoint_addresses(g: GroupId) -> u64 {
    match g {
        GroupId::Amlworkspace => 3,
        GroupId::Registry => 2,
        _ => 1,
    }
}

/// The endpoints a SecureWorkspace creates in its private-endpoint subnet.
fn ws_endpoints(ws: &SecureWorkspace) -> Vec<GroupId> {
    let mut v = vec![GroupId::Amlworkspace, GroupId::Registry];
    if ws.spec.connectivity.mode == ConnectivityMode::PrivateEndpoint {
        v.extend(ws.spec.storage.private_endpoints.iter().map(|s| s.group_id()));
        v.push(GroupId::Vault);
    }
    v
}

fn ws_host_names(ws: &SecureWorkspace) -> Vec<privatelink::HostName> {
    let region = ws.spec.location.as_str();
    let cloud = DnsCloud::from_region(region);
    let mut v = privatelink::host_names(
        cloud,
        EndpointTarget::Workspace { workspace_id: WORKSPACE_ID_PLACEHOLDER, name: &ws.spec.workspace.name, region },
    );
    if let Some(id) = registry_id(ws) {
        v.extend(privatelink::host_names(cloud, EndpointTarget::Registry { name: arm::name(&id), region }));
    }
    if ws.spec.connectivity.mode == ConnectivityMode::PrivateEndpoint {
        if let Some(id) = storage_id(ws) {
            for group in ws.spec.storage.private_endpoints.iter().map(|s| s.group_id()) {
                v.extend(privatelink::host_names(cloud, EndpointTarget::Storage { account: arm::name(&id), group }));
            }
        }
        if let Some(id) = vault_id(ws) {
            v.extend(privatelink::host_names(cloud, EndpointTarget::KeyVault { name: arm::name(&id) }));
        }
    }
    v
}

fn zones_of(names: &[privatelink::HostName]) -> Vec<String> {
    let mut z: Vec<String> = names.iter().map(|h| h.zone.clone()).collect();
    z.sort();
    z.dedup();
    z
}

fn dns_server_checks(
    obj: &ObjectRef,
    custom: bool,
    vnet_id: &str,
    zones: &[String],
    field: &str,
    observed: &Observed,
    out: &mut Vec<Finding>,
) {
    let Some(vnet) = observed.vnet(vnet_id) else { return };
    if custom && vnet.dns_servers.is_empty() {
        out.push(
            Finding::new(
                &DNS_002,
                obj.clone(),
                format!("DNS mode is Custom, but VNet {} uses Azure-provided DNS (no DNS servers set); nothing serves the private endpoints' host records", arm::name(vnet_id)),
                "set the VNet's DNS servers to your DNS server and add the host records from status, or use dns.mode: AzurePrivateDns",
            )
            .at(field),
        );
    }
    if !custom && !vnet.dns_servers.is_empty() {
        out.push(
            Finding::new(
                &DNS_003,
                obj.clone(),
                format!(
                    "VNet {} uses DNS servers {}; the private DNS zones ({}) answer only through Azure DNS",
                    arm::name(vnet_id),
                    vnet.dns_servers.join(", "),
                    zones.join(", ")
                ),
                "forward these zones (or their public names) from your DNS servers to 168.63.129.16, or use dns.mode: Custom and serve the host records",
            )
            .at(field),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SecureWorkspace.

/// True when the binding is one a SecureWorkspace owns (moat created it for the workspace).
fn owned_by(b: &PrivateEndpointBinding, ws: &SecureWorkspace) -> bool {
    super::namespace_of(b) == super::namespace_of(ws)
        && b.metadata.labels.as_ref().and_then(|l| l.get(crate::plan::workspace::WORKSPACE_LABEL)).is_some_and(|n| *n == ws.name_any())
}

pub(super) fn workspace(
    ws: &SecureWorkspace,
    subnets: &[&ComputeSubnet],
    endpoints: &[&PrivateEndpointBinding],
    observed: &Observed,
    out: &mut Vec<Finding>,
) {
    let obj = ObjectRef::workspace(ws);
    let s = &ws.spec;
    let sub = s.subscription_id.as_str();
    let loc = s.location.as_str();
    let vnet_id = ws_vnet_id(ws);
    let vnet_name = arm::name(&vnet_id).to_string();
    let obs_vnet = observed.vnet(&vnet_id);

    // NET-003: an adopted VNet in another subscription.
    if let Some(id) = &s.network.vnet.id
        && let Some(vsub) = arm::subscription(id.as_str())
            && !vsub.eq_ignore_ascii_case(sub) {
                out.push(Finding::new(&NET_003, obj.clone(), format!("VNet {vnet_name} is in subscription {vsub}, the workspace in subscription {sub}"), "adopt a VNet in the workspace's subscription, or move the workspace (subscriptionId) to the VNet's").at("spec.network.vnet.id"));
            }
    // NET-002: the VNet in another region.
    if let Some(vloc) = obs_vnet.and_then(|v| v.location.as_deref())
        && !vloc.eq_ignore_ascii_case(loc) {
            out.push(Finding::new(&NET_002, obj.clone(), format!("VNet {vnet_name} is in {vloc}, the workspace in {loc}; compute in this VNet must be in the workspace's region"), format!("use a VNet in {loc}, or set location: {vloc}")).at("spec.network.vnet"));
        }

    let space = ws_address_space(ws, observed);
    let pe = &s.network.private_endpoint_subnet;
    let pe_prefix = cidr::parse_canonical(pe.address_prefix.as_str()).ok();

    // NET-004 for an adopted VNet (the CEL rule covers a created one).
    if s.network.vnet.address_space.as_ref().is_none_or(|a| a.is_empty())
        && let Some(p) = pe_prefix
            && !space.is_empty() && !cidr::inside_any(&p, &space) {
                out.push(Finding::new(&NET_004, obj.clone(), format!("private-endpoint subnet {p} is outside VNet {vnet_name}'s address space {}", list(&space)), "choose a prefix inside the VNet's address space").at("spec.network.privateEndpointSubnet.addressPrefix"));
            }
    // NET-005: the private-endpoint subnet against subnets that already exist in the VNet.
    if let (Some(p), Some(v)) = (pe_prefix, obs_vnet) {
        for o in &v.subnets {
            if o.name.eq_ignore_ascii_case(&pe.name) || subnets.iter().any(|c| c.spec.name.eq_ignore_ascii_case(&o.name)) {
                continue;
            }
            for op in parse_all(o.prefixes()) {
                if cidr::overlaps(&p, &op) {
                    out.push(Finding::new(&NET_005, obj.clone(), format!("private-endpoint subnet {p} overlaps existing subnet {} ({op}) in VNet {vnet_name}", o.name), "choose a free prefix in the VNet").at("spec.network.privateEndpointSubnet.addressPrefix"));
                }
            }
        }
    }
    // NET-006: the Docker bridge default inside the VNet.
    if let Some(hit) = space.iter().find(|n| cidr::overlaps(n, &cidr::DOCKER_BRIDGE_DEFAULT)) {
        out.push(Finding::new(&NET_006, obj.clone(), format!("VNet address space {hit} overlaps 172.17.0.0/16, the Docker bridge's default range"), "use another range for the VNet, for example 10.x.0.0/16").at("spec.network.vnet.addressSpace"));
    }
    // NET-007 and NET-009: the private-endpoint subnet's size.
    if let Some(p) = pe_prefix {
        if !cidr::is_valid_subnet_size(&p) {
            out.push(Finding::new(&NET_007, obj.clone(), format!("private-endpoint subnet {p} has {} addresses, Azure keeps 5 of every subnet; the smallest subnet is /29", cidr::size(&p)), "use a /29 or larger prefix (a /27 leaves room for 27 endpoint addresses)").at("spec.network.privateEndpointSubnet.addressPrefix"));
        } else {
            let pe_subnet = ws_pe_subnet_id(ws);
            let mut groups = ws_endpoints(ws);
            // The workspace's own endpoints are counted above; its owned bindings are those same endpoints.
            let extra: Vec<GroupId> = endpoints
                .iter()
                .filter(|b| !owned_by(b, ws) && arm::same(b.spec.subnet_id.as_str(), &pe_subnet))
                .map(|b| b.spec.target.group_id)
                .collect();
            groups.extend(extra.iter().copied());
            let need: u64 = groups.iter().map(|g| endpoint_addresses(*g)).sum();
            let usable = cidr::usable(&p);
            if usable < need {
                let mut parts: Vec<String> = Vec::new();
                for g in &groups {
                    parts.push(format!("{} {}", g, endpoint_addresses(*g)));
                }
                let want = cidr::smallest_prefix_for(need).unwrap_or(0);
                out.push(Finding::new(&NET_009, obj.clone(), format!("private-endpoint subnet /{} has {} usable addresses, {} needed by {} ({})", p.prefix_len(), usable, need, plural(groups.len() as u64, "private endpoint", "private endpoints"), parts.join(", ")), format!("use a /{want} or larger ({} usable addresses)", cidr::usable_for_prefix(want))).at("spec.network.privateEndpointSubnet.addressPrefix"));
            }
        }
    }

    // WS-001, WS-002.
    if s.workspace.public_network_access == PublicNetworkAccess::Enabled {
        out.push(Finding::new(&WS_001, obj.clone(), "workspace.publicNetworkAccess is Enabled: the workspace also answers on its public endpoint".to_string(), "set publicNetworkAccess: Disabled unless clients outside the VNet need the workspace").at("spec.workspace.publicNetworkAccess"));
    }
    if !s.connectivity.allow_trusted_microsoft_services {
        out.push(Finding::new(&WS_002, obj.clone(), "connectivity.allowTrustedMicrosoftServices is false: Azure ML cannot pass the key vault, registry and storage firewalls".to_string(), "set connectivity.allowTrustedMicrosoftServices: true").at("spec.connectivity.allowTrustedMicrosoftServices"));
    }
    // WS-003, WS-004: adopted associated resources.
    let adopted: [(&str, Option<&str>, Option<&str>); 3] = [
        ("spec.storage.id", s.storage.id.as_ref().map(|i| i.as_str()), s.storage.id.as_ref().and_then(|i| observed.storage(i.as_str())).and_then(|o| o.location.as_deref())),
        ("spec.keyVault.id", s.key_vault.id.as_ref().map(|i| i.as_str()), s.key_vault.id.as_ref().and_then(|i| observed.key_vault(i.as_str())).and_then(|o| o.location.as_deref())),
        ("spec.containerRegistry.id", s.container_registry.id.as_ref().map(|i| i.as_str()), s.container_registry.id.as_ref().and_then(|i| observed.registry(i.as_str())).and_then(|o| o.location.as_deref())),
    ];
    for (field, id, rloc) in adopted {
        let Some(id) = id else { continue };
        if let Some(rsub) = arm::subscription(id)
            && !rsub.eq_ignore_ascii_case(sub) {
                out.push(Finding::new(&WS_003, obj.clone(), format!("{} is in subscription {rsub}, the workspace in subscription {sub}", arm::name(id)), "adopt a resource in the workspace's subscription, or let moat create one (name instead of id)").at(field));
            }
        if let Some(rloc) = rloc
            && !rloc.eq_ignore_ascii_case(loc) {
                out.push(Finding::new(&WS_004, obj.clone(), format!("{} is in {rloc}, the workspace in {loc}", arm::name(id)), format!("adopt a resource in {loc}, or let moat create one (name instead of id)")).at(field));
            }
    }
    // REG-001, REG-002, REG-003.
    if let Some(id) = &s.container_registry.id
        && let Some(sku) = observed.registry(id.as_str()).and_then(|r| r.sku.as_deref())
            && !sku.eq_ignore_ascii_case("Premium") {
                out.push(Finding::new(&REG_001, obj.clone(), format!("container registry {} is {sku}; private endpoints need Premium", arm::name(id.as_str())), "upgrade the registry to Premium (az acr update --sku Premium) or adopt a Premium registry").at("spec.containerRegistry.id"));
            }
    match &s.workspace.image_build_compute {
        None => out.push(Finding::new(&REG_002, obj.clone(), "the container registry is reached only through its private endpoint, and workspace.imageBuildCompute is not set: Azure ML cannot build images".to_string(), "set workspace.imageBuildCompute to the name of a CPU compute cluster, and give it a ComputeSubnet of purpose Training").at("spec.workspace.imageBuildCompute")),
        Some(cluster) => {
            if !subnets.iter().any(|c| c.spec.purpose == ComputePurpose::Training) {
                out.push(Finding::new(&REG_003, obj.clone(), format!("workspace.imageBuildCompute is {cluster}, but no ComputeSubnet of purpose Training refers to this workspace"), "add a ComputeSubnet with purpose: Training and workspaceRef to this workspace for the image-build cluster").at("spec.workspace.imageBuildCompute"));
            }
        }
    }
    // STO-002: storage on service endpoints, studio needs the endpoint on the workspace PE's subnet.
    if s.connectivity.mode == ConnectivityMode::ServiceEndpoint
        && let Some(o) = observed.subnet(&vnet_id, &pe.name)
            && !o.service_endpoints.iter().any(|e| e.eq_ignore_ascii_case("Microsoft.Storage")) {
                out.push(Finding::new(&STO_002, obj.clone(), format!("storage uses service endpoints, but subnet {} (the workspace's private endpoint) has no Microsoft.Storage service endpoint ({})", pe.name, if o.service_endpoints.is_empty() { "none".to_string() } else { o.service_endpoints.join(", ") }), "add the Microsoft.Storage service endpoint to the private-endpoint subnet").at("spec.connectivity.mode"));
            }
    // DNS-001..003.
    let names = ws_host_names(ws);
    let zones = zones_of(&names);
    if s.dns.mode == DnsMode::Custom {
        out.push(Finding::new(&DNS_001, obj.clone(), format!("custom DNS: your DNS server must serve {} host records in {} zones ({}), listed in status.dnsRecords once the endpoints have addresses", names.len(), zones.len(), zones.join(", ")), "add the records of status.dnsRecords to your DNS server, or forward the zones to 168.63.129.16").at("spec.dns.mode"));
    }
    dns_server_checks(&obj, s.dns.mode == DnsMode::Custom, &vnet_id, &zones, "spec.dns.mode", observed, out);
}

// ---------------------------------------------------------------------------------------------
// ComputeSubnet.

/// Another subnet of the same VNet, for overlap checks.
struct Other {
    what: String,
    prefix: Ipv4Net,
}

pub(super) fn compute_subnet(
    cs: &ComputeSubnet,
    ws: Option<&SecureWorkspace>,
    siblings: &[&ComputeSubnet],
    observed: &Observed,
    out: &mut Vec<Finding>,
) {
    let obj = ObjectRef::compute_subnet(cs);
    let s = &cs.spec;
    let me = cs.name_any();
    let ws_vnet = ws.map(ws_vnet_id);
    let vnet_id: Option<String> = s.vnet_id.as_ref().map(|v| v.as_str().to_string()).or_else(|| ws_vnet.clone());
    let same_vnet_as_ws = match (&vnet_id, &ws_vnet) {
        (Some(a), Some(b)) => arm::same(a, b),
        _ => false,
    };
    let prefix = cidr::parse_canonical(s.address_prefix.as_str()).ok();
    let region = ws.map(|w| w.spec.location.as_str().to_string());
    let obs_vnet = vnet_id.as_deref().and_then(|v| observed.vnet(v));
    let obs_subnet = vnet_id.as_deref().and_then(|v| observed.subnet(v, &s.name));
    let vnet_name = vnet_id.as_deref().map(arm::name).unwrap_or("?").to_string();
    let subnet_id = vnet_id.as_deref().map(|v| format!("{v}/subnets/{}", s.name));

    if let (Some(ws), Some(wv)) = (ws, &ws_vnet) {
        // NET-001, NET-003.
        if let Some(v) = &s.vnet_id {
            if !arm::same(v.as_str(), wv) {
                out.push(Finding::new(&NET_001, obj.clone(), format!("subnet {} is in VNet {}, but workspace {} and its resources are behind VNet {}", s.name, arm::name(v.as_str()), ws.name_any(), arm::name(wv)), "remove spec.vnetId to use the workspace's VNet").at("spec.vnetId"));
            }
            let wsub = ws.spec.subscription_id.as_str();
            if let Some(vsub) = arm::subscription(v.as_str())
                && !vsub.eq_ignore_ascii_case(wsub) {
                    out.push(Finding::new(&NET_003, obj.clone(), format!("VNet {} is in subscription {vsub}, the workspace in subscription {wsub}", arm::name(v.as_str())), "use a VNet in the workspace's subscription").at("spec.vnetId"));
                }
        }
        // NET-002.
        if let Some(vloc) = obs_vnet.and_then(|v| v.location.as_deref()) {
            let loc = ws.spec.location.as_str();
            if !vloc.eq_ignore_ascii_case(loc) {
                out.push(Finding::new(&NET_002, obj.clone(), format!("VNet {vnet_name} is in {vloc}, workspace {} in {loc}", ws.name_any()), format!("put the subnet in a VNet in {loc}")).at("spec.vnetId"));
            }
        }
    }

    // Address space and the other subnets of the VNet.
    let space: Vec<Ipv4Net> = match (same_vnet_as_ws, ws) {
        (true, Some(ws)) => ws_address_space(ws, observed),
        _ => obs_vnet.map(|v| parse_all(v.address_space.iter().map(String::as_str))).unwrap_or_default(),
    };
    let mut others: Vec<Other> = Vec::new();
    let mut known_names: Vec<String> = vec![s.name.clone()];
    let mut databricks = u64::from(s.purpose == ComputePurpose::Databricks);
    for sib in siblings {
        if sib.name_any() == me && super::namespace_of(*sib) == obj.namespace {
            continue;
        }
        let sib_vnet = sib.spec.vnet_id.as_ref().map(|v| v.as_str().to_string()).or_else(|| ws_vnet.clone());
        let same = match (&sib_vnet, &vnet_id) {
            (Some(a), Some(b)) => arm::same(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            continue;
        }
        known_names.push(sib.spec.name.clone());
        if sib.spec.purpose == ComputePurpose::Databricks {
            databricks += 1;
        }
        if let Ok(p) = cidr::parse_canonical(sib.spec.address_prefix.as_str()) {
            others.push(Other { what: format!("ComputeSubnet {} (subnet {}, {p})", sib.name_any(), sib.spec.name), prefix: p });
        }
    }
    if same_vnet_as_ws
        && let Some(ws) = ws {
            let pe = &ws.spec.network.private_endpoint_subnet;
            known_names.push(pe.name.clone());
            if let Ok(p) = cidr::parse_canonical(pe.address_prefix.as_str()) {
                others.push(Other { what: format!("the private-endpoint subnet {} ({p})", pe.name), prefix: p });
            }
        }
    if let Some(v) = obs_vnet {
        for o in &v.subnets {
            if known_names.iter().any(|n| n.eq_ignore_ascii_case(&o.name)) {
                continue;
            }
            known_names.push(o.name.clone());
            if o.delegations.iter().any(|d| d.eq_ignore_ascii_case(DATABRICKS_DELEGATION)) {
                databricks += 1;
            }
            for p in parse_all(o.prefixes()) {
                others.push(Other { what: format!("existing subnet {} ({p})", o.name), prefix: p });
            }
        }
    }

    if let Some(p) = prefix {
        // NET-004.
        if !space.is_empty() && !cidr::inside_any(&p, &space) {
            out.push(Finding::new(&NET_004, obj.clone(), format!("subnet {p} is outside VNet {vnet_name}'s address space {}", list(&space)), "choose a prefix inside the VNet's address space").at("spec.addressPrefix"));
        }
        // NET-005.
        for o in others.iter().filter(|o| cidr::overlaps(&p, &o.prefix)) {
            out.push(Finding::new(&NET_005, obj.clone(), format!("subnet {p} overlaps {} in VNet {vnet_name}", o.what), "choose a prefix that no other subnet of the VNet uses").at("spec.addressPrefix"));
        }
        // NET-007, NET-008.
        if !cidr::is_valid_subnet_size(&p) {
            out.push(Finding::new(&NET_007, obj.clone(), format!("subnet {p} has {} addresses, fewer than the 5 Azure keeps; the smallest subnet is /29", cidr::size(&p)), "use a /29 or larger prefix").at("spec.addressPrefix"));
        } else {
            let expected = u64::try_from(s.expected_nodes).unwrap_or(0);
            let usable = cidr::usable(&p);
            if usable < expected {
                let fix = match cidr::smallest_prefix_for(expected) {
                    Some(want) => format!("use a /{want} or larger ({} usable addresses), or lower expectedNodes to {usable}", cidr::usable_for_prefix(want)),
                    None => "lower expectedNodes".to_string(),
                };
                out.push(Finding::new(&NET_008, obj.clone(), format!("subnet /{} has {} usable addresses, {} expected ({p}: {} addresses minus the 5 Azure keeps)", p.prefix_len(), usable, plural(expected, "node", "nodes"), cidr::size(&p)), fix).at("spec.addressPrefix"));
            }
        }
    }

    // NET-010, ACI-001: delegations that already exist.
    if let Some(o) = obs_subnet {
        let delegated: Vec<&str> = o.delegations.iter().map(String::as_str).collect();
        match s.purpose {
            ComputePurpose::Training | ComputePurpose::ComputeInstance | ComputePurpose::Inference if !delegated.is_empty() => {
                out.push(Finding::new(&NET_010, obj.clone(), format!("subnet {} is delegated to {}; {} compute needs an undelegated subnet", s.name, delegated.join(", "), s.purpose.as_str()), "remove the delegation or use another subnet").at("spec.name"));
            }
            ComputePurpose::ContainerInstances if !delegated.is_empty() && !delegated.iter().any(|d| d.eq_ignore_ascii_case(ACI_DELEGATION)) => {
                out.push(Finding::new(&ACI_001, obj.clone(), format!("subnet {} is delegated to {}, not to {ACI_DELEGATION}", s.name, delegated.join(", ")), format!("remove that delegation so moat can delegate the subnet to {ACI_DELEGATION}, or use another subnet")).at("spec.name"));
            }
            _ => {}
        }
    }
    if s.purpose == ComputePurpose::ContainerInstances {
        out.push(Finding::new(&ACI_002, obj.clone(), format!("purpose ContainerInstances: the current Azure ML docs do not support ACI deployments in a VNet when the workspace has a private endpoint (workspace {})", s.workspace_ref.name), "deploy to AKS (purpose Inference) or to managed online endpoints instead").at("spec.purpose"));
    }
    if s.purpose == ComputePurpose::Databricks {
        if databricks < 2 {
            out.push(Finding::new(&DBX_001, obj.clone(), format!("VNet {vnet_name} has {} for Azure Databricks; Databricks uses two (public and private)", plural(databricks, "subnet", "subnets")), "add a second ComputeSubnet of purpose Databricks in the same VNet").at("spec.purpose"));
        }
        if !known_names.iter().any(|n| n.eq_ignore_ascii_case("default")) {
            out.push(Finding::new(&DBX_002, obj.clone(), format!("VNet {vnet_name} has no subnet named default (known subnets: {})", known_names.join(", ")), "add a subnet named default to the VNet").at("spec.purpose"));
        }
    }

    // AKS.
    if s.purpose == ComputePurpose::Inference {
        aks_checks(cs, &obj, prefix, &others, &space, &vnet_name, observed, obs_vnet.and_then(|v| v.location.as_deref()).or(region.as_deref()), subnet_id.as_deref(), out);
        if s.outbound.mode == OutboundMode::Restricted {
            out.push(Finding::new(&AKS_006, obj.clone(), "outbound.mode is Restricted on an inference (AKS) subnet; the docs ask to keep the default outbound rules".to_string(), "set outbound.mode: Internet and restrict egress with a firewall instead").at("spec.outbound.mode"));
        }
    }

    // NSG: the rules moat renders, SSH exposure, extra rules, and an adopted NSG's rules.
    for (i, src) in s.nsg.ssh_from.iter().enumerate() {
        let Ok(n) = cidr::parse_canonical(src.as_str()) else { continue };
        let public = cidr::public_addresses(&n);
        if public > WIDE_PUBLIC {
            out.push(Finding::new(&NSG_006, obj.clone(), format!("nsg.sshFrom[{i}] {n} opens SSH (port 22) to {public} public addresses"), "allow SSH only from AzureMachineLearning's service tag, a bastion or an admin range (at most a /16 of public space)").at(format!("spec.nsg.sshFrom[{i}]")));
        } else if n.prefix_len() < 16 {
            out.push(Finding::new(&NSG_004, obj.clone(), format!("nsg.sshFrom[{i}] {n} opens SSH (port 22) to {} addresses", cidr::size(&n)), "allow SSH only from a bastion or admin range, /16 or smaller").at(format!("spec.nsg.sshFrom[{i}]")));
        }
    }
    if s.outbound.mode == OutboundMode::Restricted {
        for (i, r) in s.outbound.extra_rules.iter().enumerate() {
            let d = r.destination.trim();
            let everything = ["internet", "*", "any"].contains(&d.to_ascii_lowercase().as_str());
            let public = cidr::parse_cidr_or_ip(d).map(|n| cidr::public_addresses(&n)).unwrap_or(0);
            if everything || public > WIDE_PUBLIC {
                let what = if everything { d.to_string() } else { format!("{d} ({public} public addresses)") };
                out.push(Finding::new(&NSG_005, obj.clone(), format!("outbound.extraRules[{i}] ({}) allows {what} on ports {}, which opens the internet that Restricted mode denies; moat would write it ahead of the deny", r.name, r.ports.join(",")), "name the service tags or the addresses the traffic needs (at most a /16 of public space), or use outbound.mode: Internet").at(format!("spec.outbound.extraRules[{i}].destination")));
            }
        }
    }
    let ctx = netrules::Context {
        region: region.as_deref().unwrap_or("region"),
        storage_via_service_endpoint: ws.is_some_and(|w| w.spec.connectivity.mode == ConnectivityMode::ServiceEndpoint),
    };
    if let Some(nsg_id) = &s.nsg.id
        && let Some(nsg) = observed.nsg(nsg_id.as_str()) {
            let mut desired = netrules::security_rules(s, ctx);
            netrules::settle_priorities(&mut desired, &nsg.security_rules);
            // One finding per foreign Deny rule and direction, listing the required rules it shadows.
            let shadows = netrules::shadowed(&desired, &nsg.security_rules, prefix.as_ref());
            let mut groups: Vec<(&netrules::ExistingSecurityRule, Direction, Vec<&netrules::DesiredSecurityRule>)> = Vec::new();
            for sh in &shadows {
                match groups.iter_mut().find(|(by, d, _)| std::ptr::eq(*by, sh.by) && *d == sh.required.direction) {
                    Some((_, _, v)) => v.push(sh.required),
                    None => groups.push((sh.by, sh.required.direction, vec![sh.required])),
                }
            }
            for (by, direction, required) in groups {
                let rule = if direction == Direction::Inbound { &NSG_001 } else { &NSG_002 };
                let what: Vec<String> = required
                    .iter()
                    .map(|r| match direction {
                        Direction::Inbound => format!("{} (Allow {} → port {}, priority {})", r.name, r.source_address_prefix, r.destination_port_ranges.join(","), r.priority),
                        Direction::Outbound => format!("{} (Allow → {} port {}, priority {})", r.name, r.destination_address_prefix, r.destination_port_ranges.join(","), r.priority),
                    })
                    .collect();
                let lowest = required.iter().map(|r| r.priority).min().unwrap_or(netrules::REQUIRED_PRIORITY);
                out.push(Finding::new(rule, obj.clone(), format!("NSG {} rule {} (Deny, priority {}) is evaluated before {} required {direction} {}: {}", arm::name(nsg_id.as_str()), by.name, by.priority, required.len(), if required.len() == 1 { "rule" } else { "rules" }, what.join("; ")), format!("give {} a priority above {lowest} or narrow it so it no longer matches this traffic", by.name)).at("spec.nsg.id"));
            }
            for (d, e) in netrules::priority_collisions(&desired, &nsg.security_rules) {
                out.push(Finding::new(&NSG_003, obj.clone(), format!("NSG {} rule {} already holds {} priority {}, which moat's rule {} needs", arm::name(nsg_id.as_str()), e.name, d.direction, d.priority, d.name), format!("move {} to a free priority (moat uses 300-365, 400-431 and 4000)", e.name)).at("spec.nsg.id"));
            }
        }

    // Routes.
    if netrules::is_managed_compute(s.purpose) {
        match &s.forced_tunneling {
            None => {
                let rt = obs_subnet.and_then(|o| o.route_table_id.as_deref());
                if let Some((rt_id, table)) = rt.and_then(|id| observed.route_table(id).map(|t| (id, t)))
                    && let Some(def) = table.routes.iter().find(|r| {
                        r.address_prefix.trim() == "0.0.0.0/0"
                            && (r.next_hop_type.eq_ignore_ascii_case("VirtualAppliance") || r.next_hop_type.eq_ignore_ascii_case("VirtualNetworkGateway"))
                    }) {
                        let has = |tag: &str| table.routes.iter().any(|r| r.address_prefix.split('.').next().is_some_and(|b| b.eq_ignore_ascii_case(tag)) && r.next_hop_type.eq_ignore_ascii_case("Internet"));
                        let missing: Vec<&str> = ["BatchNodeManagement", "AzureMachineLearning"].into_iter().filter(|t| !has(t)).collect();
                        if !missing.is_empty() {
                            out.push(Finding::new(&UDR_001, obj.clone(), format!("route table {} on subnet {} sends 0.0.0.0/0 to {}{} (forced tunneling), with no Internet route for {}", arm::name(rt_id), s.name, def.next_hop_type, def.next_hop_ip_address.as_deref().map(|i| format!(" {i}")).unwrap_or_default(), missing.join(" and ")), "set spec.forcedTunneling (moat adds the service-tag routes with next hop Internet), or add them to the route table").at("spec.forcedTunneling"));
                        }
                    }
            }
            Some(ft) => {
                if let Some(rt_id) = &ft.route_table_id
                    && let Some(table) = observed.route_table(rt_id.as_str()) {
                        let desired = netrules::routes(s, ctx);
                        for (d, e) in netrules::route_conflicts(&desired, &table.routes) {
                            out.push(Finding::new(&UDR_002, obj.clone(), format!("route table {} route {} sends {} to {}{}, but moat's route {} needs next hop {}", arm::name(rt_id.as_str()), e.name, e.address_prefix, e.next_hop_type, e.next_hop_ip_address.as_deref().map(|i| format!(" {i}")).unwrap_or_default(), d.name, d.next_hop_type), format!("delete route {} or set its next hop to {}", e.name, d.next_hop_type)).at("spec.forcedTunneling.routeTableId"));
                        }
                    }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn aks_checks(
    cs: &ComputeSubnet,
    obj: &ObjectRef,
    prefix: Option<Ipv4Net>,
    others: &[Other],
    space: &[Ipv4Net],
    vnet_name: &str,
    observed: &Observed,
    vnet_location: Option<&str>,
    subnet_id: Option<&str>,
    out: &mut Vec<Finding>,
) {
    let aks = cs.spec.aks.as_ref();
    let (svc, svc_default) = match aks {
        Some(a) => match cidr::parse_canonical(a.service_cidr.as_str()) {
            Ok(n) => (Some(n), false),
            Err(_) => (None, false),
        },
        None => (Some(AKS_DEFAULT_SERVICE_CIDR), true),
    };
    let (bridge, bridge_default) = match aks.and_then(|a| a.docker_bridge_cidr.as_ref()) {
        // The bridge's address with its prefix: overlaps are about its network.
        Some(b) => (b.network().ok(), false),
        None => (Some(cidr::DOCKER_BRIDGE_DEFAULT), true),
    };
    let dflt = |d: bool| if d { " (AKS default)" } else { "" };
    if let Some(svc) = svc {
        let mut hit = false;
        let mut targets: Vec<(String, Ipv4Net)> = others.iter().map(|o| (o.what.clone(), o.prefix)).collect();
        if svc_default
            && let Some(p) = prefix {
                targets.push((format!("this subnet ({p})"), p));
            }
        for (what, p) in targets.iter().filter(|(_, p)| cidr::overlaps(&svc, p)) {
            hit = true;
            let _ = p;
            out.push(Finding::new(&AKS_001, obj.clone(), format!("AKS service CIDR {svc}{} overlaps {what} in VNet {vnet_name}", dflt(svc_default)), "set aks.serviceCidr to a range outside the VNet, such as 10.250.0.0/16, with aks.dnsServiceIP inside it").at("spec.aks.serviceCidr"));
        }
        if !hit
            && let Some(s) = space.iter().find(|s| cidr::overlaps(&svc, s)) {
                out.push(Finding::new(&AKS_002, obj.clone(), format!("AKS service CIDR {svc}{} lies in VNet {vnet_name}'s address space {s}; a subnet added later would collide with it", dflt(svc_default)), "set aks.serviceCidr to a range outside the VNet's address space, such as 10.250.0.0/16").at("spec.aks.serviceCidr"));
            }
    }
    if let Some(b) = bridge {
        let mut targets: Vec<(String, Ipv4Net)> = others.iter().map(|o| (o.what.clone(), o.prefix)).collect();
        if bridge_default {
            if let Some(p) = prefix {
                targets.push((format!("this subnet ({p})"), p));
            }
            if let Some(s) = svc {
                targets.push((format!("the service CIDR {s}"), s));
            }
        }
        for (what, _) in targets.iter().filter(|(_, p)| cidr::overlaps(&b, p)) {
            out.push(Finding::new(&AKS_003, obj.clone(), format!("Docker bridge CIDR {b}{} overlaps {what}", dflt(bridge_default)), "set aks.dockerBridgeCidr to a range outside the VNet and the service CIDR, such as 172.18.0.0/16").at("spec.aks.dockerBridgeCidr"));
        }
    }
    if let Some(sid) = subnet_id {
        for (id, a) in observed.aks_in_subnet(sid) {
            if a.private_cluster {
                out.push(Finding::new(&AKS_004, obj.clone(), format!("AKS cluster {} in subnet {} has private link enabled (private cluster); Azure ML does not support it", arm::name(id), cs.spec.name), "use an AKS cluster without private link, with an internal load balancer in this VNet").at("spec.name"));
            }
            if let (Some(al), Some(vl)) = (a.location.as_deref(), vnet_location)
                && !al.eq_ignore_ascii_case(vl) {
                    out.push(Finding::new(&AKS_005, obj.clone(), format!("AKS cluster {} is in {al}, VNet {vnet_name} in {vl}", arm::name(id)), format!("use an AKS cluster in {vl}")).at("spec.name"));
                }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PrivateEndpointBinding.

/// Who registered first, for one name in one zone: a workspace's own endpoints come before
/// standalone bindings; among equals the older object (creation time) comes first, and objects
/// without a creation time (manifests) cannot be ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seniority {
    Workspace,
    Standalone,
}

/// A private endpoint some object asks for: a binding, or one a SecureWorkspace will create (its
/// owned binding may not exist yet, and never exists in offline manifests).
#[derive(Debug, Clone)]
pub(super) struct PlannedEndpoint<'a> {
    object: ObjectRef,
    spec: std::borrow::Cow<'a, crate::api::PrivateEndpointBindingSpec>,
    seniority: Seniority,
    created: Option<k8s_openapi::jiff::Timestamp>,
    /// The SecureWorkspace that asks for it, if any.
    workspace: Option<String>,
}

impl PlannedEndpoint<'_> {
    fn endpoint_id(&self) -> String {
        crate::plan::endpoint::EndpointIds::of(&self.spec, &self.object.name, &[]).endpoint
    }
    fn zone_ids(&self) -> Vec<(String, String)> {
        crate::plan::endpoint::EndpointIds::of(&self.spec, &self.object.name, &crate::plan::endpoint::zones(&self.spec)).zones
    }
    /// True when `self` registered before `other` (or the two cannot be ordered).
    fn precedes_or_ties(&self, other: &PlannedEndpoint<'_>) -> bool {
        match (self.seniority, other.seniority) {
            (Seniority::Workspace, Seniority::Standalone) => true,
            (Seniority::Standalone, Seniority::Workspace) => false,
            _ => match (self.created, other.created) {
                (Some(a), Some(b)) => a <= b,
                _ => true,
            },
        }
    }
    fn describe(&self) -> String {
        match &self.workspace {
            Some(ws) => format!("{} (SecureWorkspace {ws}'s)", self.object),
            None => self.object.to_string(),
        }
    }
}

/// Every private endpoint the objects ask for: each binding, plus the endpoints of each
/// SecureWorkspace whose owned binding is not among them.
pub(super) fn endpoint_set<'a>(inputs: &super::Inputs<'a>) -> Vec<PlannedEndpoint<'a>> {
    let mut out: Vec<PlannedEndpoint<'a>> = inputs
        .endpoints
        .iter()
        .map(|b| {
            let owner = b.metadata.labels.as_ref().and_then(|l| l.get(crate::plan::workspace::WORKSPACE_LABEL)).cloned();
            PlannedEndpoint {
                object: ObjectRef::endpoint(b),
                spec: std::borrow::Cow::Borrowed(&b.spec),
                seniority: if owner.is_some() { Seniority::Workspace } else { Seniority::Standalone },
                created: b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                workspace: owner,
            }
        })
        .collect();
    for ws in &inputs.workspaces {
        let ns = super::namespace_of(*ws);
        for ep in crate::plan::workspace::endpoints(ws) {
            if out.iter().any(|o| o.object.namespace == ns && o.object.name == ep.name) {
                continue;
            }
            out.push(PlannedEndpoint {
                object: ObjectRef { kind: "PrivateEndpointBinding".into(), namespace: ns.clone(), name: ep.name },
                spec: std::borrow::Cow::Owned(ep.spec),
                seniority: Seniority::Workspace,
                created: ws.metadata.creation_timestamp.as_ref().map(|t| t.0),
                workspace: Some(ws.name_any()),
            });
        }
    }
    out
}

/// DNS-006: another endpoint registers the same name in the same zone, first.
fn dns_conflicts(peb: &PrivateEndpointBinding, endpoints: &[PlannedEndpoint<'_>], obj: &ObjectRef, out: &mut Vec<Finding>) {
    if peb.spec.dns.mode != EndpointDnsMode::AzurePrivateDns {
        return;
    }
    let me = PlannedEndpoint {
        object: obj.clone(),
        spec: std::borrow::Cow::Borrowed(&peb.spec),
        seniority: endpoints.iter().find(|e| e.object == *obj).map(|e| e.seniority).unwrap_or(Seniority::Standalone),
        created: peb.metadata.creation_timestamp.as_ref().map(|t| t.0),
        workspace: None,
    };
    let my_endpoint = me.endpoint_id();
    let my_zones = me.zone_ids();
    let target = peb.spec.target.id.as_str();
    let group = peb.spec.target.group_id;
    for other in endpoints {
        if other.object == *obj
            || other.spec.dns.mode != EndpointDnsMode::AzurePrivateDns
            || other.spec.target.group_id != group
            || !arm::same(other.spec.target.id.as_str(), target)
            || arm::same(&other.endpoint_id(), &my_endpoint)
            || !other.precedes_or_ties(&me)
        {
            continue;
        }
        for (zone, zid) in other.zone_ids() {
            if !my_zones.iter().any(|(_, z)| arm::same(z, &zid)) {
                continue;
            }
            let cloud = DnsCloud::from_region(peb.spec.location.as_str());
            let names: Vec<String> = host_names_of(peb, cloud).into_iter().filter(|h| h.zone.eq_ignore_ascii_case(&zone)).map(|h| h.fqdn).collect();
            let zone_rg = arm::resource_group(&zid).unwrap_or("?");
            let vnet = |s: &crate::api::PrivateEndpointBindingSpec| arm::vnet_of_subnet(s.subnet_id.as_str()).map(arm::name).unwrap_or("?").to_string();
            out.push(
                Finding::new(
                    &DNS_006,
                    obj.clone(),
                    format!(
                        "{} already registers {} in zone {zone} (resource group {zone_rg}) for its endpoint in VNet {}; this endpoint (VNet {}) would need another address for the same name, and the zone answers with one address in every VNet linked to it",
                        other.describe(),
                        if names.is_empty() { format!("{target}'s {group} names") } else { names.join(", ") },
                        vnet(&other.spec),
                        vnet(&peb.spec),
                    ),
                    "give this endpoint its own zone for its VNet's DNS view (dns.zoneResourceGroup: a resource group whose zones link to this VNet only), or use the existing endpoint instead of a second one",
                )
                .at("spec.target.id"),
            );
            break;
        }
    }
}

/// The names a binding's endpoint serves, with their zones.
fn host_names_of(peb: &PrivateEndpointBinding, cloud: DnsCloud) -> Vec<privatelink::HostName> {
    let region = peb.spec.location.as_str();
    let name = arm::name(peb.spec.target.id.as_str());
    match peb.spec.target.group_id {
        GroupId::Amlworkspace => privatelink::host_names(cloud, EndpointTarget::Workspace { workspace_id: WORKSPACE_ID_PLACEHOLDER, name, region }),
        GroupId::Vault => privatelink::host_names(cloud, EndpointTarget::KeyVault { name }),
        GroupId::Registry => privatelink::host_names(cloud, EndpointTarget::Registry { name, region }),
        g => privatelink::host_names(cloud, EndpointTarget::Storage { account: name, group: g }),
    }
}

pub(super) fn endpoint(
    peb: &PrivateEndpointBinding,
    workspaces: &[&SecureWorkspace],
    subnets: &[&ComputeSubnet],
    endpoints: &[PlannedEndpoint<'_>],
    observed: &Observed,
    out: &mut Vec<Finding>,
) {
    let obj = ObjectRef::endpoint(peb);
    let s = &peb.spec;
    let target = s.target.id.as_str();
    let group = s.target.group_id;
    let Some(peb_vnet) = arm::vnet_of_subnet(s.subnet_id.as_str()) else { return };
    let peb_vnet_name = arm::name(peb_vnet);

    // PE-001, STO-001: endpoints of a SecureWorkspace's own resources belong in its VNet.
    for ws in workspaces {
        let wv = ws_vnet_id(ws);
        if arm::same(peb_vnet, &wv) {
            continue;
        }
        let is_storage = storage_id(ws).is_some_and(|id| arm::same(&id, target));
        let is_other = [vault_id(ws), registry_id(ws), Some(workspace_arm_id(ws))].iter().flatten().any(|id| arm::same(id, target));
        if is_storage {
            let compute_vnets: Vec<String> = subnets
                .iter()
                .filter(|c| c.spec.workspace_ref.name == ws.name_any() && super::namespace_of(**c) == super::namespace_of(*ws))
                .map(|c| c.spec.vnet_id.as_ref().map(|v| v.as_str().to_string()).unwrap_or_else(|| wv.clone()))
                .collect();
            if !compute_vnets.iter().any(|v| arm::same(v, peb_vnet)) {
                out.push(Finding::new(&STO_001, obj.clone(), format!("private endpoint for storage account {} ({group}) is in VNet {peb_vnet_name}; workspace {}'s compute is in VNet {}", arm::name(target), ws.name_any(), arm::name(&wv)), format!("put the endpoint in a subnet of VNet {}", arm::name(&wv))).at("spec.subnetId"));
            }
        } else if is_other {
            out.push(Finding::new(&PE_001, obj.clone(), format!("private endpoint for {} ({group}) of workspace {} is in VNet {peb_vnet_name}, but the workspace's resources are behind VNet {}", arm::name(target), ws.name_any(), arm::name(&wv)), format!("put the endpoint in a subnet of VNet {}", arm::name(&wv))).at("spec.subnetId"));
        }
    }
    // PE-002: the VNet's region as Azure reports it, or as the workspace that creates it says.
    let created_by_workspace = workspaces.iter().find(|w| w.spec.network.vnet.id.is_none() && arm::same(&ws_vnet_id(w), peb_vnet)).map(|w| w.spec.location.as_str());
    if let Some(vloc) = observed.vnet(peb_vnet).and_then(|v| v.location.as_deref()).or(created_by_workspace)
        && !vloc.eq_ignore_ascii_case(s.location.as_str()) {
            out.push(Finding::new(&PE_002, obj.clone(), format!("endpoint location is {}, VNet {peb_vnet_name} is in {vloc}", s.location), format!("set location: {vloc}")).at("spec.location"));
        }
    // PE-003.
    if let Some(pol) = observed.subnet_by_id(s.subnet_id.as_str()).and_then(|o| o.private_endpoint_network_policies.as_deref())
        && !pol.eq_ignore_ascii_case("Disabled") {
            out.push(Finding::new(&PE_003, obj.clone(), format!("subnet {} has privateEndpointNetworkPolicies {pol}", arm::name(s.subnet_id.as_str())), "set privateEndpointNetworkPolicies: Disabled on the subnet (az network vnet subnet update --disable-private-endpoint-network-policies)").at("spec.subnetId"));
        }
    // DNS.
    let region = s.location.as_str();
    let cloud = DnsCloud::from_region(region);
    let names = host_names_of(peb, cloud);
    dns_conflicts(peb, endpoints, &obj, out);
    let zones = match &s.dns.zones {
        Some(z) if !z.is_empty() => z.clone(),
        _ => zones_of(&names),
    };
    match s.dns.mode {
        EndpointDnsMode::Custom => {
            out.push(Finding::new(&DNS_001, obj.clone(), format!("custom DNS: your DNS server must serve {} ({}) in {}, listed in status.fqdns once the endpoint has addresses", plural(names.len() as u64, "host record", "host records"), names.iter().map(|h| h.fqdn.as_str()).collect::<Vec<_>>().join(", "), zones.join(", ")), "add the records of status.fqdns to your DNS server").at("spec.dns.mode"));
        }
        EndpointDnsMode::None => {
            out.push(Finding::new(&DNS_004, obj.clone(), format!("dns.mode is None: {} still resolve(s) to the public address, so clients bypass the endpoint", names.iter().map(|h| h.fqdn.as_str()).collect::<Vec<_>>().join(", ")), "use dns.mode: AzurePrivateDns, or Custom and serve the host records").at("spec.dns.mode"));
        }
        EndpointDnsMode::AzurePrivateDns => {
            if let Some(explicit) = &s.dns.zones {
                let accepted: Vec<String> = DnsCloud::ALL.iter().flat_map(|c| privatelink::accepted_zones(group, *c, region)).collect();
                for (i, z) in explicit.iter().enumerate() {
                    if !accepted.iter().any(|a| a.eq_ignore_ascii_case(z)) {
                        let want = privatelink::default_zones(group, cloud);
                        out.push(Finding::new(&DNS_005, obj.clone(), format!("dns.zones[{i}] {z} is not a documented privatelink zone for groupId {group} (expected {})", if want.is_empty() { "none documented in this cloud".to_string() } else { want.join(", ") }), "omit dns.zones to use the documented zones").at(format!("spec.dns.zones[{i}]")));
                    }
                }
            }
        }
    }
    if s.dns.mode != EndpointDnsMode::None {
        dns_server_checks(&obj, s.dns.mode == EndpointDnsMode::Custom, peb_vnet, &zones, "spec.dns.mode", observed, out);
    }
}
