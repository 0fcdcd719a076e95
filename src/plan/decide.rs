//! The per-resource decision: compare one desired resource with what ARM returned.

use serde_json::Value;

use super::diff::{drift, merge};
use super::ownership::Owner;
use super::{Action, Verb};

/// How moat relates to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// moat creates it and tags it with its owner; a same-named resource without that tag is refused.
    Create,
    /// Someone else's resource, referenced by id: moat reads it and never writes or deletes it.
    Adopt,
    /// Shared infrastructure (private DNS zones and their VNet links): created and tagged when
    /// absent, used as it is when present whoever made it; deleted only by its tagged owner and
    /// only when nobody else still uses it.
    Shared,
    /// A child (NSG rule, route, subnet, zone group, VNet link) recognised as moat's by its name or
    /// its parent: created when absent, put back when drifted.
    Child,
}

/// How a drifted resource is written back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStyle {
    /// PUT the writable part of what was observed with the desired body merged over it, so
    /// nothing moat does not manage is dropped (read-merge-write).
    MergePut,
    /// PATCH only the managed fields (types whose ARM API supports PATCH).
    Patch,
}

/// One Azure resource as moat wants it.
#[derive(Clone, Debug)]
pub struct Desired {
    pub kind: &'static str,
    pub id: String,
    pub mode: Mode,
    /// The body of the create PUT.
    pub body: Value,
    /// The fields moat manages; checked on every reconcile (drift) and sent on update.
    pub managed: Value,
    pub update: UpdateStyle,
    /// ARM ids of the desired resources that must exist first.
    pub deps: Vec<String>,
}

impl Desired {
    /// Shared infrastructure moat writes nothing to once it exists (a privatelink zone:
    /// [`Mode::Shared`], no managed field): no write is decided on its content, so an answer
    /// that it exists may be one another reconcile got (`Arm::get_infrastructure`).
    pub fn is_infrastructure(&self) -> bool {
        self.mode == Mode::Shared && self.managed.as_object().is_some_and(|m| m.is_empty())
    }
}

/// What to do about one resource.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Nothing to write.
    Converged,
    /// Write (create or update).
    Write(Action),
    /// An operation is running on it (provisioningState not terminal): wait, do not write.
    Wait(String),
    /// moat must not touch it (name taken by a resource moat does not own).
    Refuse(String),
    /// An adopted resource does not exist.
    Missing(String),
}

/// True for provisioning states that end an operation (a missing state means Succeeded).
pub fn is_terminal(observed: &Value) -> bool {
    match provisioning_state(observed) {
        None => true,
        Some(s) => ["succeeded", "failed", "canceled"].iter().any(|t| s.eq_ignore_ascii_case(t)),
    }
}

pub fn provisioning_state(observed: &Value) -> Option<&str> {
    observed.get("properties").and_then(|p| p.get("provisioningState")).and_then(Value::as_str)
}

/// Decides what to do with `desired` given what a GET returned (`None`: 404).
pub fn decide(desired: &Desired, observed: Option<&Value>, owner: &Owner, stage: u8) -> Decision {
    let Some(observed) = observed else {
        return match desired.mode {
            Mode::Adopt => Decision::Missing(format!("adopted {} {} does not exist", desired.kind, desired.id)),
            Mode::Create | Mode::Child | Mode::Shared => Decision::Write(Action {
                verb: Verb::Create,
                kind: desired.kind,
                id: desired.id.clone(),
                method: "PUT",
                body: Some(desired.body.clone()),
                reason: "absent".into(),
                stage,
            }),
        };
    };
    if desired.mode == Mode::Create && !owner.owns(observed) {
        return Decision::Refuse(format!(
            "{} {} exists but is not tagged as created by this {}: moat does not take over resources it did not create; adopt it by id, or choose another name",
            desired.kind, desired.id, owner.kind
        ));
    }
    if !is_terminal(observed) {
        return Decision::Wait(format!(
            "{} {} is {}",
            desired.kind,
            desired.id,
            provisioning_state(observed).unwrap_or("busy")
        ));
    }
    let failed = provisioning_state(observed).is_some_and(|s| s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled"));
    if desired.mode == Mode::Adopt || (desired.mode == Mode::Shared && !owner.owns(observed)) {
        if failed && desired.mode == Mode::Adopt {
            // Not moat's to repair: say so rather than build on it.
            return Decision::Missing(format!(
                "adopted {} {} is in provisioning state {}: repair it in Azure",
                desired.kind,
                desired.id,
                provisioning_state(observed).unwrap_or("Failed")
            ));
        }
        return Decision::Converged;
    }
    if failed {
        // Failed is not done: write the whole resource again (ARM's retry of a failed operation).
        let mut body = writable(observed);
        merge(&mut body, &desired.body);
        merge(&mut body, &desired.managed);
        return Decision::Write(Action {
            verb: Verb::Update,
            kind: desired.kind,
            id: desired.id.clone(),
            method: "PUT",
            body: Some(body),
            reason: format!("provisioning state {}: writing it again", provisioning_state(observed).unwrap_or("Failed")),
            stage,
        });
    }
    let drifted = drift(observed, &desired.managed);
    if drifted.is_empty() {
        return Decision::Converged;
    }
    let (method, body) = match desired.update {
        UpdateStyle::Patch => {
            let mut body = super::diff::project(&writable(observed), &desired.managed);
            merge(&mut body, &desired.managed);
            ("PATCH", body)
        }
        UpdateStyle::MergePut => {
            let mut body = writable(observed);
            merge(&mut body, &desired.body);
            merge(&mut body, &desired.managed);
            ("PUT", body)
        }
    };
    Decision::Write(Action {
        verb: Verb::Update,
        kind: desired.kind,
        id: desired.id.clone(),
        method,
        body: Some(body),
        reason: format!("drift in {}", drifted.join(", ")),
        stage,
    })
}

/// Read-only properties of one resource type, as its ARM spec marks them (`readOnly: true`),
/// beyond the common ones in `READONLY_PROPS`.
fn readonly_props_of(rtype: &str) -> &'static [&'static str] {
    match rtype {
        "microsoft.machinelearningservices/workspaces" => &[
            "workspaceId",
            "serviceProvisionedResourceGroup",
            "privateLinkCount",
            "privateEndpointConnections",
            "notebookInfo",
            "tenantId",
            "storageHnsEnabled",
            "mlFlowTrackingUri",
        ],
        "microsoft.storage/storageaccounts" => &[
            "primaryEndpoints",
            "primaryLocation",
            "statusOfPrimary",
            "lastGeoFailoverTime",
            "secondaryLocation",
            "statusOfSecondary",
            "creationTime",
            "keyCreationTime",
            "secondaryEndpoints",
            "geoReplicationStats",
            "failoverInProgress",
            "privateEndpointConnections",
            "blobRestoreStatus",
            "isSkuConversionBlocked",
            "accountMigrationInProgress",
        ],
        "microsoft.keyvault/vaults" => &["hsmPoolResourceId", "privateEndpointConnections"],
        "microsoft.containerregistry/registries" => &["loginServer", "creationDate", "status", "dataEndpointHostNames", "privateEndpointConnections"],
        "microsoft.network/privatednszones" => &[
            "maxNumberOfRecordSets",
            "numberOfRecordSets",
            "maxNumberOfVirtualNetworkLinks",
            "numberOfVirtualNetworkLinks",
            "maxNumberOfVirtualNetworkLinksWithRegistration",
            "numberOfVirtualNetworkLinksWithRegistration",
            "internalId",
        ],
        _ => &[],
    }
}

/// Fields ARM fills in and never accepts back.
const READONLY_TOP: &[&str] = &["id", "name", "type", "etag", "systemData", "managedBy"];
const READONLY_PROPS: &[&str] = &[
    "provisioningState",
    "resourceGuid",
    "ipConfigurations",
    "ipConfigurationProfiles",
    "privateEndpoints",
    "serviceAssociationLinks",
    "resourceNavigationLinks",
    "purpose",
    "networkInterfaces",
    "subnets",
    "defaultSecurityRules",
    "flowLogs",
    "customDnsConfigs",
    "virtualNetworkLinkState",
];

/// The writable part of an observed resource: readonly keys removed at the top and under
/// `properties`. Inline subnets of a VNet are kept (each stripped the same way, name kept) so a
/// VNet PUT never drops a subnet.
pub fn writable(observed: &Value) -> Value {
    strip(observed, false)
}

fn strip(observed: &Value, keep_name: bool) -> Value {
    let mut v = observed.clone();
    let Value::Object(m) = &mut v else { return v };
    let rtype = m.get("type").and_then(Value::as_str).map(str::to_ascii_lowercase).unwrap_or_default();
    let is_vnet = m
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Network/virtualNetworks"));
    for k in READONLY_TOP {
        if !(keep_name && *k == "name") {
            m.remove(*k);
        }
    }
    // Read-only everywhere ARM has them (the specs' Identity and Sku models).
    if let Some(Value::Object(identity)) = m.get_mut("identity") {
        identity.remove("principalId");
        identity.remove("tenantId");
    }
    if rtype == "microsoft.containerregistry/registries"
        && let Some(Value::Object(sku)) = m.get_mut("sku")
    {
        sku.remove("tier");
    }
    if let Some(Value::Object(p)) = m.get_mut("properties") {
        let subnets = p.remove("subnets");
        for k in READONLY_PROPS.iter().chain(readonly_props_of(&rtype)) {
            p.remove(*k);
        }
        if let (true, Some(Value::Array(subnets))) = (is_vnet, subnets) {
            p.insert("subnets".into(), Value::Array(subnets.iter().map(|s| strip(s, true)).collect()));
        }
        // Inline sub-resources (an endpoint's connections, an NSG's rules, a table's routes):
        // their etag, type and provisioning state are ARM's.
        for (k, items) in p.iter_mut() {
            if k == "subnets" {
                continue;
            }
            if let Value::Array(items) = items {
                for item in items.iter_mut() {
                    strip_sub_resource(item);
                }
            }
        }
    }
    v
}

fn strip_sub_resource(item: &mut Value) {
    let Value::Object(m) = item else { return };
    // Only named sub-resources; plain values (ip rules, firewall VNet rules) stay as they are.
    if !m.contains_key("name") {
        return;
    }
    m.remove("etag");
    m.remove("type");
    if let Some(Value::Object(p)) = m.get_mut("properties") {
        p.remove("provisioningState");
        // A zone group's configs: the record sets are what ARM made of them.
        p.remove("recordSets");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_written_back_carries_no_read_only_property() {
        let ws = json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w",
            "name": "w", "type": "Microsoft.MachineLearningServices/workspaces", "location": "westeurope",
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": {"friendlyName": "f", "workspaceId": "x", "mlFlowTrackingUri": "u", "tenantId": "t", "privateLinkCount": 1,
                           "storageHnsEnabled": false, "privateEndpointConnections": [], "provisioningState": "Failed", "publicNetworkAccess": "Disabled"}
        });
        let w = writable(&ws);
        assert_eq!(w, json!({"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {"friendlyName": "f", "publicNetworkAccess": "Disabled"}}));
        let acr = json!({"type": "Microsoft.ContainerRegistry/registries", "sku": {"name": "Premium", "tier": "Premium"}, "properties": {"loginServer": "x.azurecr.io", "adminUserEnabled": false}});
        assert_eq!(writable(&acr), json!({"sku": {"name": "Premium"}, "properties": {"adminUserEnabled": false}}));
        // A key vault's tenantId is the vault's own setting, not read-only.
        let kv = json!({"type": "Microsoft.KeyVault/vaults", "properties": {"tenantId": "t", "hsmPoolResourceId": "h"}});
        assert_eq!(writable(&kv), json!({"properties": {"tenantId": "t"}}));
        // An endpoint written again: its connections keep name, id and settings, not ARM's fields.
        let pe = json!({"type": "Microsoft.Network/privateEndpoints", "properties": {"privateLinkServiceConnections": [{
            "id": "/pe/privateLinkServiceConnections/c", "name": "c", "etag": "W/\"1\"", "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
            "properties": {"groupIds": ["registry"], "privateLinkServiceId": "/cr", "provisioningState": "Succeeded", "privateLinkServiceConnectionState": {"status": "Approved"}}
        }], "customDnsConfigs": [{"fqdn": "x", "ipAddresses": ["10.0.0.4"]}]}});
        let zg = json!({"properties": {"privateDnsZoneConfigs": [{"name": "blob", "properties": {"privateDnsZoneId": "/z", "recordSets": [{"fqdn": "x"}]}}]}});
        assert_eq!(writable(&zg), json!({"properties": {"privateDnsZoneConfigs": [{"name": "blob", "properties": {"privateDnsZoneId": "/z"}}]}}), "record sets are ARM's");
        let st = json!({"properties": {"networkAcls": {"virtualNetworkRules": [{"id": "/s", "action": "Allow"}]}, "ipRules": [{"value": "1.2.3.4"}]}});
        assert_eq!(writable(&st), st, "firewall rules are kept as they are");
        assert_eq!(
            writable(&pe),
            json!({"properties": {"privateLinkServiceConnections": [{"id": "/pe/privateLinkServiceConnections/c", "name": "c",
                "properties": {"groupIds": ["registry"], "privateLinkServiceId": "/cr", "privateLinkServiceConnectionState": {"status": "Approved"}}}]}})
        );
    }
}
