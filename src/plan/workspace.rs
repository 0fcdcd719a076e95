//! Desired Azure resources of a SecureWorkspace, and the private endpoints it asks for.

use serde_json::{Value, json};

use super::decide::{Desired, Mode, UpdateStyle};
use super::ids::{self, WorkspaceIds};
use super::ownership::Owner;
use crate::api::{
    ConnectivityMode, DeletionPolicy, DnsMode, EndpointDnsMode, EndpointDnsSpec, GroupId, PrivateEndpointBindingSpec,
    PrivateEndpointTarget, PublicNetworkAccess, SecureWorkspace, SecureWorkspaceSpec,
};

/// Label on the PrivateEndpointBindings a SecureWorkspace owns (value: the workspace object's name).
pub const WORKSPACE_LABEL: &str = "moat.dev/secure-workspace";

/// What the desired state of a SecureWorkspace depends on besides its spec.
pub struct WorkspaceInputs<'a> {
    pub spec: &'a SecureWorkspaceSpec,
    pub owner: &'a Owner,
    /// Tenant for the key vault: spec.tenantId, else the credentials' tenant.
    pub tenant_id: Option<&'a str>,
    /// ServiceEndpoint mode: the workspace's compute subnets that exist with a `Microsoft.Storage`
    /// service endpoint; the storage firewall allows them. A subnet that does not exist yet is left
    /// out: ARM refuses a firewall rule for it (`SubnetsNotFound`).
    pub storage_subnet_ids: &'a [String],
    /// The same for the key vault (`Microsoft.KeyVault` service endpoint).
    pub vault_subnet_ids: &'a [String],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkspacePlanError {
    #[error("the key vault needs a tenant id and none is known: set spec.tenantId, or give moat credentials that name their tenant")]
    UnknownTenant,
}

fn adopt(kind: &'static str, id: &str) -> Desired {
    Desired {
        kind,
        id: id.to_string(),
        mode: Mode::Adopt,
        body: Value::Null,
        managed: Value::Null,
        update: UpdateStyle::Patch,
        deps: vec![],
    }
}

fn bypass(spec: &SecureWorkspaceSpec) -> &'static str {
    if spec.connectivity.allow_trusted_microsoft_services { "AzureServices" } else { "None" }
}

fn public_access(spec: &SecureWorkspaceSpec) -> &'static str {
    match spec.connectivity.mode {
        ConnectivityMode::PrivateEndpoint => "Disabled",
        // Service endpoints reach the public endpoint from the VNet; the firewall denies the rest.
        ConnectivityMode::ServiceEndpoint => "Enabled",
    }
}

/// The storage firewall's virtual-network rules (`id`, `action`: the Storage schema has both).
fn storage_vnet_rules(inputs: &WorkspaceInputs<'_>) -> Option<Value> {
    match inputs.spec.connectivity.mode {
        ConnectivityMode::PrivateEndpoint => None,
        ConnectivityMode::ServiceEndpoint => Some(Value::Array(
            inputs.storage_subnet_ids.iter().map(|id| json!({"id": id, "action": "Allow"})).collect(),
        )),
    }
}

/// The key vault firewall's virtual-network rules (`id` only: KeyVault's `VirtualNetworkRule` has
/// no `action`, and a field Azure drops would read as drift on every pass).
fn vault_vnet_rules(inputs: &WorkspaceInputs<'_>) -> Option<Value> {
    match inputs.spec.connectivity.mode {
        ConnectivityMode::PrivateEndpoint => None,
        ConnectivityMode::ServiceEndpoint => Some(Value::Array(inputs.vault_subnet_ids.iter().map(|id| json!({"id": id})).collect())),
    }
}

/// Every Azure resource the workspace needs, with its dependencies.
pub fn desired(inputs: &WorkspaceInputs<'_>) -> Result<Vec<Desired>, WorkspacePlanError> {
    let spec = inputs.spec;
    let ids = WorkspaceIds::of(spec);
    let loc = spec.location.as_str();
    let tags = inputs.owner.tags(&spec.tags);
    let mut out = Vec::new();

    // Network: the VNet, then the private-endpoint subnet through the subnets API.
    match &spec.network.vnet.id {
        Some(id) => out.push(adopt("VirtualNetwork", &id.0)),
        None => {
            let prefixes: Vec<&str> =
                spec.network.vnet.address_space.iter().flatten().map(|c| c.as_str()).collect();
            let body = json!({"location": loc, "tags": tags, "properties": {"addressSpace": {"addressPrefixes": prefixes}}});
            out.push(Desired {
                kind: "VirtualNetwork",
                id: ids.vnet.clone(),
                mode: Mode::Create,
                managed: json!({"tags": tags, "properties": {"addressSpace": {"addressPrefixes": prefixes}}}),
                body,
                update: UpdateStyle::MergePut,
                deps: vec![],
            });
        }
    }
    let subnet = json!({"properties": {
        "addressPrefix": spec.network.private_endpoint_subnet.address_prefix.as_str(),
        "privateEndpointNetworkPolicies": "Disabled",
    }});
    out.push(Desired {
        kind: "Subnet",
        id: ids.pe_subnet.clone(),
        mode: Mode::Child,
        body: subnet.clone(),
        managed: subnet,
        update: UpdateStyle::MergePut,
        deps: vec![ids.vnet.clone()],
    });

    // Associated resources: independent of each other and of the network.
    let acls = |extra: Option<Value>| {
        let mut a = json!({"defaultAction": "Deny", "bypass": bypass(spec)});
        if let Some(rules) = extra {
            a["virtualNetworkRules"] = rules;
        }
        a
    };
    match &spec.storage.id {
        Some(id) => out.push(adopt("StorageAccount", &id.0)),
        None => {
            let managed = json!({"tags": tags, "properties": {
                "publicNetworkAccess": public_access(spec),
                "networkAcls": acls(storage_vnet_rules(inputs)),
            }});
            let mut body = json!({"location": loc, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": false,
                "supportsHttpsTrafficOnly": true,
            }});
            super::diff::merge(&mut body, &managed);
            out.push(Desired { kind: "StorageAccount", id: ids.storage.clone(), mode: Mode::Create, body, managed, update: UpdateStyle::Patch, deps: vec![] });
        }
    }
    match &spec.key_vault.id {
        Some(id) => out.push(adopt("KeyVault", &id.0)),
        None => {
            let tenant = spec.tenant_id.as_ref().map(|t| t.as_str()).or(inputs.tenant_id).ok_or(WorkspacePlanError::UnknownTenant)?;
            let managed = json!({"tags": tags, "properties": {
                "publicNetworkAccess": public_access(spec),
                "networkAcls": acls(vault_vnet_rules(inputs)),
            }});
            let mut body = json!({"location": loc, "properties": {
                "tenantId": tenant,
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": true,
                "enableSoftDelete": true,
            }});
            super::diff::merge(&mut body, &managed);
            out.push(Desired { kind: "KeyVault", id: ids.key_vault.clone(), mode: Mode::Create, body, managed, update: UpdateStyle::Patch, deps: vec![] });
        }
    }
    match &spec.container_registry.id {
        Some(id) => out.push(adopt("ContainerRegistry", &id.0)),
        None => {
            let sku = format!("{:?}", spec.container_registry.sku);
            let managed = json!({"tags": tags, "sku": {"name": sku}, "properties": {
                "publicNetworkAccess": "Disabled",
                "networkRuleBypassOptions": bypass(spec),
                "networkRuleSet": {"defaultAction": "Deny"},
            }});
            let mut body = json!({"location": loc, "properties": {"adminUserEnabled": false}});
            super::diff::merge(&mut body, &managed);
            out.push(Desired { kind: "ContainerRegistry", id: ids.registry.clone(), mode: Mode::Create, body, managed, update: UpdateStyle::Patch, deps: vec![] });
        }
    }
    match &spec.application_insights.id {
        Some(id) => out.push(adopt("ApplicationInsights", &id.0)),
        None => {
            let managed = json!({"tags": tags});
            let body = json!({"location": loc, "kind": "web", "tags": tags, "properties": {"Application_Type": "web"}});
            out.push(Desired { kind: "ApplicationInsights", id: ids.insights.clone(), mode: Mode::Create, body, managed, update: UpdateStyle::MergePut, deps: vec![] });
        }
    }

    // The workspace, linked to its resources.
    let public = match spec.workspace.public_network_access {
        PublicNetworkAccess::Disabled => "Disabled",
        PublicNetworkAccess::Enabled => "Enabled",
    };
    let mut managed_props = json!({"publicNetworkAccess": public});
    if let Some(c) = &spec.workspace.image_build_compute {
        managed_props["imageBuildCompute"] = json!(c);
    }
    let managed = json!({"tags": tags, "properties": managed_props});
    let mut props = json!({
        "storageAccount": ids.storage,
        "keyVault": ids.key_vault,
        "containerRegistry": ids.registry,
        "applicationInsights": ids.insights,
    });
    if let Some(f) = &spec.workspace.friendly_name {
        props["friendlyName"] = json!(f);
    }
    let mut body = json!({"location": loc, "identity": {"type": "SystemAssigned"}, "sku": {"name": "Basic", "tier": "Basic"}, "properties": props});
    super::diff::merge(&mut body, &managed);
    out.push(Desired {
        kind: "Workspace",
        id: ids.workspace.clone(),
        mode: Mode::Create,
        body,
        managed,
        update: UpdateStyle::Patch,
        deps: vec![ids.storage.clone(), ids.key_vault.clone(), ids.registry.clone(), ids.insights.clone()],
    });
    Ok(out)
}

/// A private endpoint the workspace asks for, as an owned PrivateEndpointBinding.
#[derive(Clone, Debug, PartialEq)]
pub struct WantedEndpoint {
    /// Name of the PrivateEndpointBinding object: `<workspace object>-<groupId>`.
    pub name: String,
    pub spec: PrivateEndpointBindingSpec,
    /// ARM ids that must exist before the endpoint can be created (its subnet and target).
    pub deps: Vec<String>,
}

/// The private endpoints of a workspace: the workspace (amlworkspace) and the registry always;
/// storage (`spec.storage.privateEndpoints`, blob and file by default) and key vault (vault) in
/// PrivateEndpoint connectivity.
pub fn endpoints(ws: &SecureWorkspace) -> Vec<WantedEndpoint> {
    let spec = &ws.spec;
    let ids = WorkspaceIds::of(spec);
    let obj = ws.metadata.name.clone().unwrap_or_default();
    let mut wanted: Vec<(GroupId, &str, &str)> = vec![(GroupId::Amlworkspace, &ids.workspace, &spec.workspace.name)];
    if spec.connectivity.mode == ConnectivityMode::PrivateEndpoint {
        let storage_name = ids::name_of(&ids.storage);
        for service in &spec.storage.private_endpoints {
            wanted.push((service.group_id(), &ids.storage, storage_name));
        }
        wanted.push((GroupId::Vault, &ids.key_vault, ids::name_of(&ids.key_vault)));
    }
    wanted.push((GroupId::Registry, &ids.registry, ids::name_of(&ids.registry)));
    let dns_mode = match spec.dns.mode {
        DnsMode::AzurePrivateDns => EndpointDnsMode::AzurePrivateDns,
        DnsMode::Custom => EndpointDnsMode::Custom,
    };
    let orphan = spec.deletion_policy == DeletionPolicy::Orphan;
    wanted
        .into_iter()
        .map(|(group, target, target_name)| WantedEndpoint {
            name: format!("{obj}-{group}"),
            deps: vec![ids.pe_subnet.clone(), target.to_string()],
            spec: PrivateEndpointBindingSpec {
                target: PrivateEndpointTarget { id: target.into(), group_id: group },
                subnet_id: ids.pe_subnet.as_str().into(),
                location: spec.location.clone(),
                private_endpoint_name: Some(format!("pe-{target_name}-{group}")),
                resource_group: Some(spec.resource_group.clone()),
                dns: EndpointDnsSpec {
                    mode: dns_mode,
                    zones: None,
                    zone_resource_group: spec.dns.zone_resource_group.clone(),
                    link_vnet_ids: vec![],
                },
                manual_approval: None,
                credential_ref: spec.credential_ref.clone(),
                deletion_policy: if orphan { DeletionPolicy::Orphan } else { DeletionPolicy::Delete },
                tags: spec.tags.clone(),
            },
        })
        .collect()
}
