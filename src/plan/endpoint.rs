//! Desired Azure resources of a PrivateEndpointBinding: the private endpoint, the privatelink
//! zones with a VNet link each (AzurePrivateDns mode), and the endpoint's DNS zone group.

use serde_json::{Value, json};

use super::decide::{Desired, Mode, UpdateStyle};
use super::ids::{self, PRIVATE_DNS_ZONE, PRIVATE_ENDPOINT};
use super::ownership::Owner;
use crate::api::{EndpointDnsMode, PrivateEndpointBindingSpec};

/// Ids of a binding's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointIds {
    pub endpoint: String,
    pub zone_group: String,
    /// (zone name, zone id)
    pub zones: Vec<(String, String)>,
    /// (zone id, link id, vnet id)
    pub links: Vec<(String, String, String)>,
}

/// The privatelink zones a binding uses: its own `dns.zones`, or the documented ones for its
/// groupId in its region's cloud.
pub fn zones(spec: &PrivateEndpointBindingSpec) -> Vec<String> {
    match &spec.dns.zones {
        Some(z) => z.clone(),
        None => crate::privatelink::default_zones(spec.target.group_id, crate::privatelink::DnsCloud::from_region(spec.location.as_str())),
    }
}

/// Subscription of the endpoint: the subnet's.
pub fn subscription(spec: &PrivateEndpointBindingSpec) -> String {
    ids::segment(spec.subnet_id.as_str(), "subscriptions").unwrap_or_default().to_string()
}

impl EndpointIds {
    pub fn of(spec: &PrivateEndpointBindingSpec, object_name: &str, zones: &[String]) -> Self {
        let subnet = spec.subnet_id.as_str();
        let sub = subscription(spec);
        let rg = spec.resource_group.clone().unwrap_or_else(|| ids::segment(subnet, "resourceGroups").unwrap_or_default().to_string());
        let name = spec.private_endpoint_name.clone().unwrap_or_else(|| object_name.to_string());
        let endpoint = ids::resource(&sub, &rg, PRIVATE_ENDPOINT, &name);
        let zone_rg = spec.dns.zone_resource_group.clone().unwrap_or(rg);
        let zones: Vec<(String, String)> =
            zones.iter().map(|z| (z.clone(), ids::resource(&sub, &zone_rg, PRIVATE_DNS_ZONE, z))).collect();
        let vnets: Vec<String> = if spec.dns.link_vnet_ids.is_empty() {
            vec![ids::parent_of(subnet).to_string()]
        } else {
            spec.dns.link_vnet_ids.iter().map(|v| v.0.clone()).collect()
        };
        let links = zones
            .iter()
            .flat_map(|(_, zid)| {
                vnets.iter().map(move |v| (zid.clone(), format!("{zid}/virtualNetworkLinks/moat-{}", ids::name_of(v)), v.clone()))
            })
            .collect();
        Self { zone_group: format!("{endpoint}/privateDnsZoneGroups/default"), endpoint, zones, links }
    }
}

/// Every Azure resource of the binding. `zones` are the privatelink zones to use (from
/// spec.dns.zones or the groupId table) and are ignored unless the mode is AzurePrivateDns.
pub fn desired(spec: &PrivateEndpointBindingSpec, object_name: &str, owner: &Owner, zones: &[String]) -> Vec<Desired> {
    let dns = spec.dns.mode == EndpointDnsMode::AzurePrivateDns;
    let ids = EndpointIds::of(spec, object_name, if dns { zones } else { &[] });
    let tags = owner.tags(&spec.tags);
    let pe_name = ids::name_of(&ids.endpoint).to_string();
    let connection = {
        let mut props = json!({"privateLinkServiceId": spec.target.id.as_str(), "groupIds": [spec.target.group_id.as_str()]});
        if let Some(m) = &spec.manual_approval {
            props["requestMessage"] = json!(m.request_message.clone().unwrap_or_else(|| "Requested by moat".into()));
        }
        json!([{"name": pe_name, "properties": props}])
    };
    let connections_key = if spec.manual_approval.is_some() { "manualPrivateLinkServiceConnections" } else { "privateLinkServiceConnections" };
    let managed = json!({
        "tags": tags,
        "properties": {"subnet": {"id": spec.subnet_id.as_str()}, connections_key: connection},
    });
    let mut body = json!({"location": spec.location.as_str()});
    super::diff::merge(&mut body, &managed);
    let mut out = vec![Desired {
        kind: "PrivateEndpoint",
        id: ids.endpoint.clone(),
        mode: Mode::Create,
        body,
        managed,
        update: UpdateStyle::MergePut,
        // Both must exist first (they may be another object's to create): ARM refuses the PUT.
        deps: vec![spec.subnet_id.as_str().to_string(), spec.target.id.as_str().to_string()],
    }];
    if !dns {
        return out;
    }
    for (_, zid) in &ids.zones {
        let body = json!({"location": "global", "tags": tags});
        out.push(Desired { kind: "PrivateDnsZone", id: zid.clone(), mode: Mode::Shared, managed: json!({}), body, update: UpdateStyle::MergePut, deps: vec![] });
    }
    let subnet_vnet = ids::parent_of(spec.subnet_id.as_str());
    for (zid, lid, vnet) in &ids.links {
        let managed = json!({"properties": {"virtualNetwork": {"id": vnet}, "registrationEnabled": false}});
        let mut body = json!({"location": "global", "tags": tags});
        super::diff::merge(&mut body, &managed);
        let mut deps = vec![zid.clone()];
        if vnet.eq_ignore_ascii_case(subnet_vnet) {
            // The endpoint's own VNet exists once its subnet does.
            deps.push(spec.subnet_id.as_str().to_string());
        }
        out.push(Desired { kind: "VirtualNetworkLink", id: lid.clone(), mode: Mode::Shared, body, managed, update: UpdateStyle::MergePut, deps });
    }
    let configs: Vec<Value> = ids
        .zones
        .iter()
        .map(|(z, zid)| json!({"name": z.replace('.', "-"), "properties": {"privateDnsZoneId": zid}}))
        .collect();
    let group = json!({"properties": {"privateDnsZoneConfigs": configs}});
    let mut deps = vec![ids.endpoint.clone()];
    deps.extend(ids.zones.iter().map(|(_, z)| z.clone()));
    out.push(Desired { kind: "PrivateDnsZoneGroup", id: ids.zone_group.clone(), mode: Mode::Child, body: group.clone(), managed: group, update: UpdateStyle::MergePut, deps });
    out
}
