//! Per-type behaviour: read-only stripping, validation and fills on write, delete rules,
//! derived fields on read, and clean-up on removal. Dispatches to `network` and `services`.

use serde_json::{Map, Value};

use super::error::ArmError;
use super::state::{Entry, State};
use super::types::{self, TypeSpec};
use super::{network, services};

/// A write in progress.
pub struct WriteCtx {
    pub spec: &'static TypeSpec,
    /// Final id (the first-seen casing when the resource exists).
    pub id: String,
    pub key: String,
    pub name: String,
    pub sub: String,
    pub rg: String,
    pub parent: Option<String>,
    pub root: String,
    /// Sanitised body; hooks add defaults and validate it.
    pub body: Map<String, Value>,
    /// Generated stable values, carried over from the existing resource.
    pub meta: Map<String, Value>,
    pub existing: Option<Entry>,
    /// The resource's location (its root's for children).
    pub location: String,
    /// Other entries that follow this write's operation (inline children, NICs).
    pub affected: Vec<String>,
}

impl WriteCtx {
    pub fn props(&mut self) -> &mut Map<String, Value> {
        super::json::obj(&mut self.body, "properties")
    }

    pub fn props_ref(&self) -> Map<String, Value> {
        match self.body.get("properties") {
            Some(Value::Object(p)) => p.clone(),
            _ => Map::new(),
        }
    }
}

/// Strips what callers may not set (read-only properties); ARM ignores them on PUT.
pub fn sanitize(spec: &TypeSpec, body: &mut Map<String, Value>) {
    for k in ["id", "name", "type", "etag", "systemData"] {
        body.remove(k);
    }
    super::json::remove_path(body, "properties.provisioningState");
    let extra: &[&str] = match spec.canonical {
        types::VNET => &["properties.resourceGuid"],
        types::SUBNET => &[
            "properties.ipConfigurations",
            "properties.ipConfigurationProfiles",
            "properties.privateEndpoints",
            "properties.serviceAssociationLinks",
            "properties.resourceNavigationLinks",
            "properties.purpose",
        ],
        types::NSG => &[
            "properties.defaultSecurityRules",
            "properties.subnets",
            "properties.networkInterfaces",
            "properties.resourceGuid",
            "properties.flowLogs",
        ],
        types::ROUTE_TABLE => &["properties.subnets", "properties.resourceGuid"],
        types::ROUTE => &["properties.hasBgpOverride"],
        types::PRIVATE_ENDPOINT => &[
            "properties.networkInterfaces",
            "properties.customDnsConfigs",
        ],
        types::DNS_ZONE => &[
            "properties.maxNumberOfRecordSets",
            "properties.numberOfRecordSets",
            "properties.maxNumberOfVirtualNetworkLinks",
            "properties.numberOfVirtualNetworkLinks",
            "properties.maxNumberOfVirtualNetworkLinksWithRegistration",
            "properties.numberOfVirtualNetworkLinksWithRegistration",
            "properties.internalId",
        ],
        types::DNS_LINK => &["properties.virtualNetworkLinkState"],
        types::WORKSPACE => &[
            "properties.workspaceId",
            "properties.discoveryUrl",
            "properties.mlFlowTrackingUri",
            "properties.privateLinkCount",
            "properties.privateEndpointConnections",
            "properties.tenantId",
            "properties.notebookInfo",
            "properties.storageHnsEnabled",
            "properties.serviceProvisionedResourceGroup",
            "identity.principalId",
            "identity.tenantId",
        ],
        types::COMPUTE => &[
            "properties.createdOn",
            "properties.modifiedOn",
            "properties.provisioningErrors",
            "properties.isAttachedCompute",
            "properties.properties.allocationState",
            "properties.properties.allocationStateTransitionTime",
            "properties.properties.currentNodeCount",
            "properties.properties.targetNodeCount",
            "properties.properties.nodeStateCounts",
            "properties.properties.errors",
        ],
        types::STORAGE => &[
            "properties.primaryEndpoints",
            "properties.primaryLocation",
            "properties.statusOfPrimary",
            "properties.creationTime",
            "properties.privateEndpointConnections",
            "properties.secondaryEndpoints",
            "properties.secondaryLocation",
            "properties.statusOfSecondary",
            "identity.principalId",
            "identity.tenantId",
        ],
        types::VAULT => &[
            "properties.vaultUri",
            "properties.privateEndpointConnections",
            "properties.hsmPoolResourceId",
        ],
        types::REGISTRY => &[
            "properties.loginServer",
            "properties.creationDate",
            "properties.dataEndpointHostNames",
            "properties.privateEndpointConnections",
            "properties.status",
        ],
        types::APP_INSIGHTS => &[
            "properties.AppId",
            "properties.ApplicationId",
            "properties.InstrumentationKey",
            "properties.ConnectionString",
            "properties.CreationDate",
            "properties.TenantId",
            "properties.Name",
        ],
        _ => &[],
    };
    for p in extra {
        super::json::remove_path(body, p);
    }
}

/// Validates a write and fills defaults; may create or remove other entries (after validating).
pub fn prepare(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    match w.spec.canonical {
        types::VNET => network::put_vnet(st, w),
        types::SUBNET => network::put_subnet(st, w),
        types::NSG => network::put_nsg(st, w),
        types::NSG_RULE => network::put_rule(st, w),
        types::ROUTE_TABLE => network::put_route_table(st, w),
        types::ROUTE => network::put_route(st, w),
        types::PRIVATE_ENDPOINT => network::put_private_endpoint(st, w),
        types::ZONE_GROUP => network::put_zone_group(st, w),
        types::DNS_ZONE => services::put_dns_zone(st, w),
        types::DNS_LINK => services::put_dns_link(st, w),
        types::WORKSPACE => services::put_workspace(st, w),
        types::COMPUTE => services::put_compute(st, w),
        types::STORAGE => services::put_storage(st, w),
        types::VAULT => services::put_vault(st, w),
        types::REGISTRY => services::put_registry(st, w),
        types::APP_INSIGHTS => services::put_app_insights(st, w),
        _ if services::is_record_type(w.spec) => services::put_record(st, w),
        _ => Ok(()),
    }
}

/// Runs after the written entry is stored (for fills that need it in the store).
pub fn after_write(st: &mut State, key: &str) {
    let Some(spec) = st.get(key).map(|e| e.spec) else {
        return;
    };
    if spec.is(types::PRIVATE_ENDPOINT) {
        network::refresh_zone_groups_of(st, key);
    } else if spec.is(types::ZONE_GROUP) {
        network::apply_zone_group(st, key);
    } else if spec.is(types::DNS_ZONE) {
        services::ensure_soa(st, key);
    }
}

/// Azure's refusals to delete (resources in use).
pub fn check_delete(st: &State, e: &Entry) -> Result<(), ArmError> {
    match e.spec.canonical {
        types::VNET => network::check_delete_vnet(st, e),
        types::SUBNET => network::check_delete_subnet(st, e),
        types::NSG => network::check_delete_nsg(st, e),
        types::ROUTE_TABLE => network::check_delete_route_table(st, e),
        types::DNS_ZONE => services::check_delete_dns_zone(st, e),
        _ => Ok(()),
    }
}

/// Clean-up after an entry left the store.
pub fn on_removed(st: &mut State, e: Entry) {
    match e.spec.canonical {
        types::PRIVATE_ENDPOINT => network::on_pe_removed(st, &e),
        types::ZONE_GROUP => network::on_zone_group_removed(st, &e),
        types::VAULT => services::on_vault_removed(st, e),
        _ => {}
    }
}

/// Adds read-only and derived fields to a rendered resource.
pub fn decorate(st: &State, e: &Entry, obj: &mut Map<String, Value>) {
    match e.spec.canonical {
        types::VNET
        | types::SUBNET
        | types::NSG
        | types::NSG_RULE
        | types::ROUTE_TABLE
        | types::ROUTE
        | types::PRIVATE_ENDPOINT
        | types::ZONE_GROUP
        | types::NIC => network::decorate(st, e, obj),
        _ => services::decorate(st, e, obj),
    }
}
