//! Conformance of the client's models with the official Azure OpenAPI specs.
//!
//! Specs come from `$MOAT_SHARED_DIR/azure-specs` or `$CARGO_MANIFEST_DIR/../shared/azure-specs`.
//!
//! - (a) every request body the client builds, with every modelled writable field set, uses only
//!   properties the PUT/PATCH schema defines, with allowed enum values, required ones present and
//!   no read-only ones; the operator's reference bodies (azure-arm-facts.md §2) survive a
//!   model round trip byte for byte;
//! - (b) the spec examples (shared/azure-specs/examples, plus any `x-ms-examples` files found
//!   under `$MOAT_AZURE_EXAMPLES_DIR/<service>/<version>/examples/`) pass the checker and
//!   deserialize into the models; a model round trip of a response never sends read-only or
//!   unknown properties and never invents one the example did not have;
//! - (c) the checker catches a misspelt property on either side, read-only properties, bad enum
//!   values and missing required properties.
#![cfg(feature = "emulator")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use moat::azure::ArmResource;
use moat::azure::ResourceId;
use moat::azure::models::common::{ManagedServiceIdentity, SubResource, UserAssignedIdentity};
use moat::azure::models::containerregistry::*;
use moat::azure::models::insights::*;
use moat::azure::models::keyvault::*;
use moat::azure::models::ml::*;
use moat::azure::models::network::*;
use moat::azure::models::privatedns::*;
use moat::azure::models::storage::*;
use moat::azure::spec_check::{Direction, SpecSet, Violation, ViolationKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn specs() -> &'static SpecSet {
    static SPECS: OnceLock<SpecSet> = OnceLock::new();
    SPECS.get_or_init(|| match SpecSet::from_env() {
        Ok(s) => s,
        Err(e) => panic!("azure_conformance needs the bundled specs: {e}"),
    })
}

fn id(s: &str) -> ResourceId {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml";

fn rid(rest: &str) -> ResourceId {
    id(&format!("{SUB}/providers/{rest}"))
}

fn report(what: &str, v: &[Violation]) -> String {
    let mut s = format!("{what}: {} violation(s)\n", v.len());
    for x in v {
        s.push_str(&format!("  - {x}\n"));
    }
    s
}

fn check_put<B: Serialize>(resource_type: &str, api_version: &str, body: &B) -> Vec<Violation> {
    let v = serde_json::to_value(body).unwrap();
    specs().check_request("put", resource_type, api_version, &v)
}

fn check_patch<B: Serialize>(resource_type: &str, api_version: &str, body: &B) -> Vec<Violation> {
    let v = serde_json::to_value(body).unwrap();
    specs().check_request("patch", resource_type, api_version, &v)
}

// ---------------------------------------------------------------------------------------------
// (a) Maximal request bodies: every writable field the models have is set.

fn tags() -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([("managed-by".to_string(), "moat".to_string())]))
}

fn max_subnet() -> Subnet {
    Subnet {
        name: Some("snet-compute".into()),
        properties: SubnetProperties {
            address_prefix: Some("10.10.2.0/24".into()),
            address_prefixes: Some(vec!["10.10.3.0/24".into()]),
            network_security_group: Some(SubResource::new(rid("Microsoft.Network/networkSecurityGroups/nsg"))),
            route_table: Some(SubResource::new(rid("Microsoft.Network/routeTables/rt"))),
            nat_gateway: Some(SubResource::new(rid("Microsoft.Network/natGateways/nat"))),
            service_endpoints: Some(vec![ServiceEndpoint {
                service: Some("Microsoft.Storage".into()),
                locations: Some(vec!["eastus".into()]),
                network_identifier: Some(SubResource::new(rid("Microsoft.Network/publicIPAddresses/pip"))),
                provisioning_state: None,
            }]),
            service_endpoint_policies: Some(vec![SubResource::new(rid("Microsoft.Network/serviceEndpointPolicies/sep"))]),
            delegations: Some(vec![Delegation {
                name: Some("aci".into()),
                properties: DelegationProperties {
                    service_name: Some("Microsoft.ContainerInstance/containerGroups".into()),
                    ..Default::default()
                },
                ..Default::default()
            }]),
            private_endpoint_network_policies: Some(PrivateEndpointNetworkPolicies::Disabled),
            private_link_service_network_policies: Some(PrivateLinkServiceNetworkPolicies::Enabled),
            default_outbound_access: Some(false),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn max_rule(priority: i32) -> SecurityRule {
    let mut p = SecurityRuleProperties::new(
        priority,
        SecurityRuleDirection::Outbound,
        SecurityRuleAccess::Allow,
        SecurityRuleProtocol::Tcp,
    );
    p.description = Some("AML outbound".into());
    p.source_port_range = Some("*".into());
    p.destination_port_ranges = Some(vec!["443".into(), "8787".into(), "18881".into()]);
    p.source_address_prefix = Some("VirtualNetwork".into());
    p.destination_address_prefix = Some("AzureMachineLearning".into());
    p.source_application_security_groups = Some(vec![SubResource::new(rid("Microsoft.Network/applicationSecurityGroups/asg"))]);
    let mut rule = SecurityRule::new(p);
    rule.name = Some(format!("rule{priority}"));
    rule
}

fn max_rule_plural(priority: i32) -> SecurityRule {
    let mut p = SecurityRuleProperties::new(
        priority,
        SecurityRuleDirection::Inbound,
        SecurityRuleAccess::Deny,
        SecurityRuleProtocol::Any,
    );
    p.source_port_ranges = Some(vec!["1000-2000".into()]);
    p.destination_port_range = Some("22".into());
    p.source_address_prefixes = Some(vec!["10.0.0.0/8".into()]);
    p.destination_address_prefixes = Some(vec!["10.10.0.0/16".into()]);
    p.destination_application_security_groups = Some(vec![SubResource::new(rid("Microsoft.Network/applicationSecurityGroups/asg"))]);
    SecurityRule::new(p)
}

fn max_route() -> Route {
    let mut r = Route::new("0.0.0.0/0", RouteNextHopType::VirtualAppliance, Some("10.0.0.4".into()));
    r.name = Some("default".into());
    r
}

fn max_vnet() -> VirtualNetwork {
    VirtualNetwork {
        location: Some("eastus".into()),
        tags: tags(),
        properties: VirtualNetworkProperties {
            address_space: Some(AddressSpace {
                address_prefixes: Some(vec!["10.10.0.0/16".into()]),
                ipam_pool_prefix_allocations: None,
            }),
            dhcp_options: Some(DhcpOptions {
                dns_servers: Some(vec!["10.10.0.4".into()]),
            }),
            subnets: Some(vec![max_subnet()]),
            virtual_network_peerings: Some(vec![VirtualNetworkPeering {
                name: Some("to-hub".into()),
                properties: VirtualNetworkPeeringProperties {
                    remote_virtual_network: Some(SubResource::new(rid("Microsoft.Network/virtualNetworks/hub"))),
                    other: serde_json::from_value(json!({"allowVirtualNetworkAccess": true, "allowForwardedTraffic": false}))
                        .unwrap(),
                    ..Default::default()
                },
                ..Default::default()
            }]),
            enable_ddos_protection: Some(false),
            enable_vm_protection: Some(false),
            ddos_protection_plan: Some(SubResource::new(rid("Microsoft.Network/ddosProtectionPlans/ddos"))),
            flow_timeout_in_minutes: Some(10),
            private_endpoint_v_net_policies: Some("Disabled".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn max_nsg() -> NetworkSecurityGroup {
    NetworkSecurityGroup {
        location: Some("eastus".into()),
        tags: tags(),
        properties: NetworkSecurityGroupProperties {
            security_rules: Some(vec![max_rule(120), max_rule_plural(130)]),
            flush_connection: Some(false),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn max_route_table() -> RouteTable {
    RouteTable {
        location: Some("eastus".into()),
        tags: tags(),
        properties: RouteTableProperties {
            routes: Some(vec![max_route()]),
            disable_bgp_route_propagation: Some(false),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn max_private_endpoint() -> PrivateEndpoint {
    let conn = |name: &str, msg: Option<&str>| PrivateLinkServiceConnection {
        name: Some(name.into()),
        properties: PrivateLinkServiceConnectionProperties {
            private_link_service_id: Some(rid("Microsoft.MachineLearningServices/workspaces/ws1")),
            group_ids: Some(vec!["amlworkspace".into()]),
            request_message: msg.map(str::to_string),
            private_link_service_connection_state: Some(PrivateLinkServiceConnectionState {
                status: Some("Approved".into()),
                description: Some("auto".into()),
                actions_required: Some("None".into()),
            }),
            provisioning_state: None,
        },
        ..Default::default()
    };
    PrivateEndpoint {
        location: Some("eastus".into()),
        tags: tags(),
        properties: PrivateEndpointProperties {
            subnet: Some(SubResource::new(rid("Microsoft.Network/virtualNetworks/vnet/subnets/snet-pe"))),
            private_link_service_connections: Some(vec![conn("ws", None)]),
            manual_private_link_service_connections: Some(vec![conn("ws-manual", Some("please"))]),
            custom_network_interface_name: Some("pe-ws-nic".into()),
            ip_configurations: Some(vec![PrivateEndpointIpConfiguration {
                name: Some("static".into()),
                properties: PrivateEndpointIpConfigurationProperties {
                    group_id: Some("amlworkspace".into()),
                    member_name: Some("default".into()),
                    private_ip_address: Some("10.10.1.5".into()),
                },
                ..Default::default()
            }]),
            application_security_groups: Some(vec![SubResource::new(rid("Microsoft.Network/applicationSecurityGroups/asg"))]),
            custom_dns_configs: Some(vec![CustomDnsConfig {
                fqdn: Some("ws.api.azureml.ms".into()),
                ip_addresses: Some(vec!["10.10.1.5".into()]),
            }]),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn max_zone_group() -> PrivateDnsZoneGroup {
    PrivateDnsZoneGroup {
        name: Some("default".into()),
        properties: PrivateDnsZoneGroupProperties {
            private_dns_zone_configs: Some(vec![PrivateDnsZoneConfig {
                name: Some("api".into()),
                properties: PrivateDnsZoneConfigProperties {
                    private_dns_zone_id: Some(rid("Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms")),
                    record_sets: None,
                },
            }]),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn identity_ua() -> ManagedServiceIdentity {
    let mut m = ManagedServiceIdentity::system_assigned();
    m.identity_type = moat::azure::models::common::IdentityType::SystemAssignedUserAssigned;
    m.user_assigned_identities = Some(BTreeMap::from([(
        format!("{SUB}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai"),
        UserAssignedIdentity::default(),
    )]));
    m
}

fn max_workspace() -> Workspace {
    Workspace {
        location: Some("eastus".into()),
        tags: tags(),
        identity: Some(identity_ua()),
        sku: Some(Sku {
            name: "Basic".into(),
            tier: Some(SkuTier::Basic),
        }),
        kind: Some("Default".into()),
        properties: WorkspaceProperties {
            description: Some("d".into()),
            friendly_name: Some("ws1".into()),
            key_vault: Some(rid("Microsoft.KeyVault/vaults/kv1")),
            application_insights: Some(rid("Microsoft.Insights/components/ai1")),
            container_registry: Some(rid("Microsoft.ContainerRegistry/registries/acr1")),
            storage_account: Some(rid("Microsoft.Storage/storageAccounts/sa1")),
            discovery_url: Some("https://eastus.api.azureml.ms/discovery".into()),
            hbi_workspace: Some(false),
            image_build_compute: Some("cpu-cluster".into()),
            allow_public_access_when_behind_vnet: Some(false),
            public_network_access: Some(PublicNetworkAccess::Disabled),
            serverless_compute_settings: Some(ServerlessComputeSettings {
                serverless_compute_custom_subnet: Some(rid("Microsoft.Network/virtualNetworks/vnet/subnets/snet-compute")),
                serverless_compute_no_public_ip: Some(true),
            }),
            managed_network: Some(ManagedNetworkSettings {
                isolation_mode: Some(IsolationMode::Disabled),
                ..Default::default()
            }),
            primary_user_assigned_identity: Some(format!("{SUB}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai")),
            v1_legacy_mode: Some(false),
            enable_data_isolation: Some(false),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn max_workspace_update() -> WorkspaceUpdate {
    WorkspaceUpdate {
        tags: tags(),
        sku: Some(Sku {
            name: "Basic".into(),
            tier: None,
        }),
        identity: Some(ManagedServiceIdentity::system_assigned()),
        properties: Some(WorkspaceUpdateProperties {
            description: Some("d".into()),
            friendly_name: Some("ws".into()),
            image_build_compute: Some("cpu-cluster".into()),
            primary_user_assigned_identity: Some("uai".into()),
            serverless_compute_settings: Some(ServerlessComputeSettings::default()),
            public_network_access: Some(PublicNetworkAccess::Disabled),
            application_insights: Some(rid("Microsoft.Insights/components/ai1")),
            container_registry: Some(rid("Microsoft.ContainerRegistry/registries/acr1")),
            managed_network: Some(ManagedNetworkSettings {
                isolation_mode: Some(IsolationMode::Disabled),
                ..Default::default()
            }),
            enable_data_isolation: Some(false),
            v1_legacy_mode: Some(false),
        }),
    }
}

fn max_aml_compute() -> ComputeResource {
    let mut c = Compute::aml_compute(AmlComputeProperties {
        os_type: Some(OsType::Linux),
        vm_size: Some("STANDARD_DS3_V2".into()),
        vm_priority: Some(VmPriority::Dedicated),
        virtual_machine_image: Some(SubResourceId { id: "img".into() }),
        isolated_network: Some(false),
        scale_settings: Some(ScaleSettings {
            max_node_count: 4,
            min_node_count: Some(0),
            node_idle_time_before_scale_down: Some("PT120S".into()),
        }),
        user_account_credentials: Some(UserAccountCredentials {
            admin_user_name: "azureuser".into(),
            admin_user_ssh_public_key: Some("ssh-rsa AAAA".into()),
            admin_user_password: None,
        }),
        subnet: Some(rid("Microsoft.Network/virtualNetworks/vnet/subnets/snet-compute").into()),
        remote_login_port_public_access: Some(RemoteLoginPortPublicAccess::Disabled),
        enable_node_public_ip: Some(false),
        property_bag: Some(json!({})),
        ..Default::default()
    });
    c.compute_location = Some("eastus".into());
    c.description = Some("cpu".into());
    c.disable_local_auth = Some(true);
    c.resource_id = Some(rid("Microsoft.Compute/virtualMachines/vm"));
    ComputeResource {
        location: Some("eastus".into()),
        tags: tags(),
        identity: Some(ManagedServiceIdentity::system_assigned()),
        sku: Some(Sku {
            name: "Basic".into(),
            tier: None,
        }),
        properties: Some(c),
        ..Default::default()
    }
}

fn max_compute_instance() -> ComputeResource {
    ComputeResource {
        location: Some("eastus".into()),
        properties: Some(Compute::compute_instance(ComputeInstanceProperties {
            vm_size: Some("STANDARD_NC6".into()),
            subnet: Some(rid("Microsoft.Network/virtualNetworks/vnet/subnets/snet-compute").into()),
            application_sharing_policy: Some(ApplicationSharingPolicy::Personal),
            ssh_settings: Some(ComputeInstanceSshSettings {
                ssh_public_access: Some("Disabled".into()),
                admin_public_key: Some("ssh-rsa AAAA".into()),
                ..Default::default()
            }),
            compute_instance_authorization_type: Some("personal".into()),
            personal_compute_instance_settings: Some(json!({"assignedUser": {"objectId": "o", "tenantId": "t"}})),
            enable_node_public_ip: Some(false),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn max_rules() -> NetworkRuleSet {
    let mut r = NetworkRuleSet::new(DefaultAction::Deny);
    r.bypass = Some("AzureServices".into());
    r.resource_access_rules = Some(vec![ResourceAccessRule {
        tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
        resource_id: Some(format!("{SUB}/providers/Microsoft.MachineLearningServices/workspaces/ws1")),
    }]);
    r.virtual_network_rules = Some(vec![StorageVirtualNetworkRule {
        id: rid("Microsoft.Network/virtualNetworks/vnet/subnets/snet-compute"),
        action: Some("Allow".into()),
        state: None,
    }]);
    r.ip_rules = Some(vec![StorageIpRule {
        value: "203.0.113.0/24".into(),
        action: Some("Allow".into()),
    }]);
    r
}

fn max_storage_props() -> StorageAccountWritableProperties {
    StorageAccountWritableProperties {
        public_network_access: Some(StoragePublicNetworkAccess::Disabled),
        allow_blob_public_access: Some(false),
        minimum_tls_version: Some(MinimumTlsVersion::Tls1_2),
        network_acls: Some(max_rules()),
        allow_shared_key_access: Some(false),
        supports_https_traffic_only: Some(true),
        access_tier: Some(AccessTier::Hot),
        allow_cross_tenant_replication: Some(false),
        default_to_oauth_authentication: Some(true),
    }
}

fn max_storage_create() -> StorageAccountCreate {
    StorageAccountCreate {
        sku: StorageSkuName::StandardLrs.into(),
        kind: StorageKind::StorageV2,
        location: "eastus".into(),
        tags: tags(),
        identity: Some(ManagedServiceIdentity::system_assigned()),
        properties: Some(max_storage_props()),
    }
}

fn max_storage_update() -> StorageAccountUpdate {
    StorageAccountUpdate {
        sku: Some(StorageSkuName::StandardZrs.into()),
        tags: tags(),
        identity: Some(ManagedServiceIdentity::system_assigned()),
        properties: Some(max_storage_props()),
    }
}

fn max_vault_rules() -> VaultNetworkRuleSet {
    VaultNetworkRuleSet {
        bypass: Some(VaultBypass::AzureServices),
        default_action: Some(DefaultAction::Deny),
        ip_rules: Some(vec![VaultIpRule {
            value: "203.0.113.7".into(),
        }]),
        virtual_network_rules: Some(vec![VaultVirtualNetworkRule {
            id: rid("Microsoft.Network/virtualNetworks/vnet/subnets/snet-compute"),
            ignore_missing_vnet_service_endpoint: Some(false),
        }]),
        other: Default::default(),
    }
}

fn max_vault_create() -> VaultCreate {
    let mut p = VaultProperties::new("72f988bf-86f1-41af-91ab-2d7cd011db47", VaultSku::standard());
    p.access_policies = Some(vec![AccessPolicyEntry {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        object_id: "00000000-0000-0000-0000-000000000002".into(),
        application_id: None,
        permissions: json!({"secrets": ["get", "list"]}),
    }]);
    p.vault_uri = Some("https://kv1.vault.azure.net/".into());
    p.enabled_for_deployment = Some(false);
    p.enabled_for_disk_encryption = Some(false);
    p.enabled_for_template_deployment = Some(false);
    p.enable_soft_delete = Some(true);
    p.soft_delete_retention_in_days = Some(90);
    p.enable_rbac_authorization = Some(true);
    p.create_mode = Some("default".into());
    p.enable_purge_protection = Some(true);
    p.network_acls = Some(max_vault_rules());
    p.public_network_access = Some("Disabled".into());
    VaultCreate {
        location: "eastus".into(),
        tags: tags(),
        properties: p,
    }
}

fn max_vault_update() -> VaultUpdate {
    VaultUpdate {
        tags: tags(),
        properties: Some(VaultUpdateProperties {
            tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
            sku: Some(VaultSku::standard()),
            enable_rbac_authorization: Some(true),
            enable_soft_delete: Some(true),
            enable_purge_protection: Some(true),
            network_acls: Some(max_vault_rules()),
            public_network_access: Some("Disabled".into()),
        }),
    }
}

fn max_registry_rules() -> RegistryNetworkRuleSet {
    RegistryNetworkRuleSet {
        default_action: DefaultAction::Deny,
        ip_rules: Some(vec![RegistryIpRule {
            action: Some("Allow".into()),
            value: "203.0.113.0/24".into(),
        }]),
        other: Default::default(),
    }
}

fn max_registry() -> Registry {
    let mut r = Registry::new(
        "eastus",
        RegistrySkuName::Premium,
        RegistryProperties {
            admin_user_enabled: Some(false),
            network_rule_set: Some(max_registry_rules()),
            policies: Some(RegistryPolicies {
                quarantine_policy: Some(StatusPolicy { status: Some("disabled".into()) }),
                trust_policy: Some(TrustPolicy {
                    policy_type: Some("Notary".into()),
                    status: Some("disabled".into()),
                }),
                retention_policy: Some(RetentionPolicy {
                    days: Some(7),
                    status: Some("disabled".into()),
                    last_updated_time: None,
                }),
                export_policy: Some(StatusPolicy { status: Some("disabled".into()) }),
            }),
            encryption: Some(RegistryEncryption {
                status: Some("disabled".into()),
                key_vault_properties: Some(RegistryKeyVaultProperties {
                    key_identifier: Some("https://kv1.vault.azure.net/keys/k".into()),
                    identity: Some("00000000-0000-0000-0000-000000000003".into()),
                    ..Default::default()
                }),
            }),
            data_endpoint_enabled: Some(true),
            public_network_access: Some(EnabledDisabled::Disabled),
            network_rule_bypass_options: Some(NetworkRuleBypassOptions::AzureServices),
            zone_redundancy: Some(EnabledDisabled::Disabled),
            ..Default::default()
        },
    );
    r.tags = tags();
    r.identity = Some(RegistryIdentity {
        identity_type: Some(RegistryIdentityType::SystemAssigned),
        principal_id: None,
        tenant_id: None,
        user_assigned_identities: None,
    });
    r
}

fn max_registry_update() -> RegistryUpdate {
    RegistryUpdate {
        identity: None,
        tags: tags(),
        sku: Some(RegistrySkuName::Premium.into()),
        properties: Some(RegistryUpdateProperties {
            admin_user_enabled: Some(false),
            network_rule_set: Some(max_registry_rules()),
            policies: Some(RegistryPolicies {
                export_policy: Some(StatusPolicy { status: Some("disabled".into()) }),
                ..Default::default()
            }),
            data_endpoint_enabled: Some(true),
            public_network_access: Some(EnabledDisabled::Disabled),
            network_rule_bypass_options: Some(NetworkRuleBypassOptions::AzureServices),
        }),
    }
}

fn max_vnet_link() -> VirtualNetworkLink {
    VirtualNetworkLink::new(rid("Microsoft.Network/virtualNetworks/vnet"), false, tags())
}

#[test]
fn request_bodies_conform_to_put_and_patch_schemas() {
    let mut failures = String::new();
    let mut check = |what: &str, v: Vec<Violation>| {
        if !v.is_empty() {
            failures.push_str(&report(what, &v));
        }
    };
    macro_rules! put {
        ($ty:ty, $body:expr) => {
            check(
                concat!("PUT ", stringify!($ty)),
                check_put(<<$ty as moat::azure::PutBody>::Resource>::RESOURCE_TYPE, <<$ty as moat::azure::PutBody>::Resource>::API_VERSION, &$body),
            )
        };
    }
    macro_rules! patch {
        ($ty:ty, $body:expr) => {
            check(
                concat!("PATCH ", stringify!($ty)),
                check_patch(<<$ty as moat::azure::PatchBody>::Resource>::RESOURCE_TYPE, <<$ty as moat::azure::PatchBody>::Resource>::API_VERSION, &$body),
            )
        };
    }
    put!(VirtualNetwork, max_vnet());
    put!(Subnet, max_subnet());
    put!(NetworkSecurityGroup, max_nsg());
    put!(SecurityRule, max_rule(100));
    put!(SecurityRule, max_rule_plural(101));
    put!(RouteTable, max_route_table());
    put!(Route, max_route());
    put!(PrivateEndpoint, max_private_endpoint());
    put!(PrivateDnsZoneGroup, max_zone_group());
    put!(PrivateZone, PrivateZone::new(tags()));
    put!(VirtualNetworkLink, max_vnet_link());
    patch!(PrivateZone, PrivateZone::new(tags()));
    patch!(VirtualNetworkLink, max_vnet_link());
    put!(Workspace, max_workspace());
    patch!(WorkspaceUpdate, max_workspace_update());
    put!(ComputeResource, max_aml_compute());
    put!(ComputeResource, max_compute_instance());
    patch!(
        ClusterUpdate,
        ClusterUpdate::scale(ScaleSettings {
            max_node_count: 2,
            min_node_count: Some(0),
            node_idle_time_before_scale_down: Some("PT60S".into())
        })
    );
    put!(StorageAccountCreate, max_storage_create());
    patch!(StorageAccountUpdate, max_storage_update());
    put!(VaultCreate, max_vault_create());
    patch!(VaultUpdate, max_vault_update());
    put!(Registry, max_registry());
    patch!(RegistryUpdate, max_registry_update());
    patch!(TagsPatch<VirtualNetwork>, TagsPatch::<VirtualNetwork>::new(tags().unwrap()));
    patch!(TagsPatch<NetworkSecurityGroup>, TagsPatch::<NetworkSecurityGroup>::new(tags().unwrap()));
    patch!(TagsPatch<RouteTable>, TagsPatch::<RouteTable>::new(tags().unwrap()));
    for n in specs().notes() {
        eprintln!("note: {n}");
    }
    assert!(failures.is_empty(), "{failures}");
}

/// The App Insights spec is not bundled: the check cannot run and says so.
#[test]
fn application_insights_spec_is_missing() {
    let c = Component {
        location: Some("eastus".into()),
        kind: Some("web".into()),
        properties: ComponentProperties {
            application_type: Some("web".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let v = check_put(Component::RESOURCE_TYPE, Component::API_VERSION, &c);
    assert!(
        v.len() == 1 && v[0].detail.contains("no put operation for Microsoft.Insights/components"),
        "if the App Insights spec was added to shared/azure-specs, turn this into a real check: {v:?}"
    );
}

/// The operator's reference bodies (azure-arm-facts.md §2, with real ids in place of "...")
/// round-trip through the models unchanged and pass the checker.
#[test]
fn operator_reference_bodies_round_trip_exactly() {
    fn rt<T: DeserializeOwned + Serialize>(resource_type: &str, method: &str, body: Value) {
        let model: T = serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{resource_type}: {e}"));
        let back = serde_json::to_value(&model).unwrap();
        assert_eq!(back, body, "{resource_type}: the model changed the body");
        let version = moat::azure::api_versions::for_type(resource_type).unwrap();
        let v = specs().check_request(method, resource_type, version, &back);
        assert!(v.is_empty(), "{}", report(resource_type, &v));
    }
    let nsg = format!("{SUB}/providers/Microsoft.Network/networkSecurityGroups/nsg-compute");
    let rt_id = format!("{SUB}/providers/Microsoft.Network/routeTables/rt-compute");
    let subnet = format!("{SUB}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-compute");
    let ws = format!("{SUB}/providers/Microsoft.MachineLearningServices/workspaces/ws1");
    rt::<VirtualNetwork>(
        "Microsoft.Network/virtualNetworks",
        "put",
        json!({"location": "eastus", "tags": {"managed-by": "aml-operator"}, "properties": {
            "addressSpace": {"addressPrefixes": ["10.10.0.0/16"]}, "dhcpOptions": {"dnsServers": []},
            "subnets": [
                {"name": "snet-pe", "properties": {"addressPrefix": "10.10.1.0/24", "privateEndpointNetworkPolicies": "Disabled"}},
                {"name": "snet-compute", "properties": {"addressPrefix": "10.10.2.0/24", "networkSecurityGroup": {"id": nsg},
                    "routeTable": {"id": rt_id}, "serviceEndpoints": [{"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}]}}],
            "enableDdosProtection": false}}),
    );
    rt::<Subnet>(
        "Microsoft.Network/virtualNetworks/subnets",
        "put",
        json!({"properties": {"addressPrefix": "10.10.2.0/24", "networkSecurityGroup": {"id": nsg}, "routeTable": {"id": rt_id},
            "serviceEndpoints": [{"service": "Microsoft.Storage", "locations": ["eastus"]}],
            "delegations": [{"name": "aci", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}],
            "privateEndpointNetworkPolicies": "Disabled", "privateLinkServiceNetworkPolicies": "Enabled", "defaultOutboundAccess": false}}),
    );
    rt::<NetworkSecurityGroup>(
        "Microsoft.Network/networkSecurityGroups",
        "put",
        json!({"location": "eastus", "properties": {"securityRules": [
            {"name": "AllowAzureMLInbound44224", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                "sourceAddressPrefix": "AzureMachineLearning", "sourcePortRange": "*", "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": "44224"}},
            {"name": "AllowAzureMLOut", "properties": {"priority": 120, "direction": "Outbound", "access": "Allow", "protocol": "Tcp",
                "sourceAddressPrefix": "VirtualNetwork", "sourcePortRange": "*", "destinationAddressPrefix": "AzureMachineLearning",
                "destinationPortRanges": ["443", "8787", "18881"]}}]}}),
    );
    rt::<RouteTable>(
        "Microsoft.Network/routeTables",
        "put",
        json!({"location": "eastus", "properties": {"disableBgpRoutePropagation": false, "routes": [
            {"name": "AzureMLToInternet", "properties": {"addressPrefix": "AzureMachineLearning", "nextHopType": "Internet"}},
            {"name": "Default", "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.0.4"}}]}}),
    );
    rt::<PrivateEndpoint>(
        "Microsoft.Network/privateEndpoints",
        "put",
        json!({"location": "eastus", "properties": {"subnet": {"id": subnet}, "customNetworkInterfaceName": "pe-ws-nic",
            "privateLinkServiceConnections": [{"name": "ws", "properties": {"privateLinkServiceId": ws, "groupIds": ["amlworkspace"]}}],
            "manualPrivateLinkServiceConnections": [], "ipConfigurations": [], "applicationSecurityGroups": []}}),
    );
    rt::<PrivateDnsZoneGroup>(
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        "put",
        json!({"properties": {"privateDnsZoneConfigs": [
            {"name": "api", "properties": {"privateDnsZoneId": format!("{SUB}/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms")}},
            {"name": "notebooks", "properties": {"privateDnsZoneId": format!("{SUB}/providers/Microsoft.Network/privateDnsZones/privatelink.notebooks.azure.net")}}]}}),
    );
    rt::<PrivateZone>("Microsoft.Network/privateDnsZones", "put", json!({"location": "global", "tags": {}}));
    rt::<VirtualNetworkLink>(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        "put",
        json!({"location": "global", "properties": {"virtualNetwork": {"id": format!("{SUB}/providers/Microsoft.Network/virtualNetworks/vnet")}, "registrationEnabled": false}}),
    );
    rt::<Workspace>(
        "Microsoft.MachineLearningServices/workspaces",
        "put",
        json!({"location": "eastus", "identity": {"type": "SystemAssigned"}, "sku": {"name": "Basic", "tier": "Basic"}, "kind": "Default",
            "properties": {"friendlyName": "ws1",
                "storageAccount": format!("{SUB}/providers/Microsoft.Storage/storageAccounts/sa1"),
                "keyVault": format!("{SUB}/providers/Microsoft.KeyVault/vaults/kv1"),
                "applicationInsights": format!("{SUB}/providers/Microsoft.Insights/components/ai1"),
                "containerRegistry": format!("{SUB}/providers/Microsoft.ContainerRegistry/registries/acr1"),
                "publicNetworkAccess": "Disabled", "imageBuildCompute": "cpu-cluster", "v1LegacyMode": false,
                "managedNetwork": {"isolationMode": "Disabled"}, "hbiWorkspace": false}}),
    );
    rt::<ComputeResource>(
        "Microsoft.MachineLearningServices/workspaces/computes",
        "put",
        json!({"location": "eastus", "properties": {"computeType": "AmlCompute", "disableLocalAuth": true, "properties": {
            "vmSize": "STANDARD_DS3_V2", "vmPriority": "Dedicated", "osType": "Linux",
            "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT120S"},
            "subnet": {"id": subnet}, "enableNodePublicIp": false, "remoteLoginPortPublicAccess": "Disabled"}}}),
    );
    rt::<StorageAccountCreate>(
        "Microsoft.Storage/storageAccounts",
        "put",
        json!({"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": "eastus", "properties": {
            "publicNetworkAccess": "Disabled", "allowBlobPublicAccess": false, "minimumTlsVersion": "TLS1_2",
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices",
                "virtualNetworkRules": [{"id": subnet, "action": "Allow"}],
                "ipRules": [{"value": "203.0.113.0/24", "action": "Allow"}],
                "resourceAccessRules": [{"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "resourceId": ws}]}}}),
    );
    rt::<VaultCreate>(
        "Microsoft.KeyVault/vaults",
        "put",
        json!({"location": "eastus", "properties": {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "sku": {"family": "A", "name": "standard"},
            "enableRbacAuthorization": true, "enableSoftDelete": true, "enablePurgeProtection": true, "publicNetworkAccess": "Disabled",
            "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": [{"value": "203.0.113.7"}],
                "virtualNetworkRules": [{"id": subnet, "ignoreMissingVnetServiceEndpoint": false}]}}}),
    );
    rt::<Registry>(
        "Microsoft.ContainerRegistry/registries",
        "put",
        json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"adminUserEnabled": false, "publicNetworkAccess": "Disabled",
            "networkRuleBypassOptions": "AzureServices", "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "203.0.113.0/24"}]},
            "dataEndpointEnabled": true}}),
    );
}

// ---------------------------------------------------------------------------------------------
// (b) Spec examples.

/// Deserializes `v` as the response model of `resource_type` and returns the model's
/// re-serialization and whether that is a PUT body (same model for GET and PUT).
fn response_model(resource_type: &str, v: &Value) -> Result<(Value, bool), String> {
    fn go<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
        let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(&t).map_err(|e| e.to_string())
    }
    Ok(match resource_type {
        "Microsoft.Network/virtualNetworks" => (go::<VirtualNetwork>(v)?, true),
        "Microsoft.Network/virtualNetworks/subnets" => (go::<Subnet>(v)?, true),
        "Microsoft.Network/networkSecurityGroups" => (go::<NetworkSecurityGroup>(v)?, true),
        "Microsoft.Network/networkSecurityGroups/securityRules" => (go::<SecurityRule>(v)?, true),
        "Microsoft.Network/routeTables" => (go::<RouteTable>(v)?, true),
        "Microsoft.Network/routeTables/routes" => (go::<Route>(v)?, true),
        "Microsoft.Network/privateEndpoints" => (go::<PrivateEndpoint>(v)?, true),
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups" => (go::<PrivateDnsZoneGroup>(v)?, true),
        "Microsoft.Network/privateDnsZones" => (go::<PrivateZone>(v)?, true),
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks" => (go::<VirtualNetworkLink>(v)?, true),
        "Microsoft.MachineLearningServices/workspaces" => (go::<Workspace>(v)?, true),
        "Microsoft.MachineLearningServices/workspaces/computes" => (go::<ComputeResource>(v)?, true),
        "Microsoft.Storage/storageAccounts" => (go::<StorageAccount>(v)?, false),
        "Microsoft.KeyVault/vaults" => (go::<Vault>(v)?, false),
        "Microsoft.ContainerRegistry/registries" => (go::<Registry>(v)?, true),
        other => return Err(format!("no model for {other}")),
    })
}

/// Deserializes `v` as the request model of (`method`, `resource_type`).
fn request_model(method: &str, resource_type: &str, v: &Value) -> Result<Value, String> {
    fn go<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
        let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(&t).map_err(|e| e.to_string())
    }
    match (method, resource_type) {
        ("patch", "Microsoft.Storage/storageAccounts") => go::<StorageAccountUpdate>(v),
        ("put", "Microsoft.Storage/storageAccounts") => go::<StorageAccountCreate>(v),
        ("patch", "Microsoft.KeyVault/vaults") => go::<VaultUpdate>(v),
        ("put", "Microsoft.KeyVault/vaults") => go::<VaultCreate>(v),
        ("patch", "Microsoft.ContainerRegistry/registries") => go::<RegistryUpdate>(v),
        ("patch", "Microsoft.MachineLearningServices/workspaces") => go::<WorkspaceUpdate>(v),
        ("patch", "Microsoft.MachineLearningServices/workspaces/computes") => go::<ClusterUpdate>(v),
        ("patch", t) if t.starts_with("Microsoft.Network/") && !t.contains("privateDns") => {
            go::<moat::azure::models::TagsObject>(v)
        }
        ("put" | "patch", t) => response_model(t, v).map(|(v, _)| v),
        _ => Err("no model".into()),
    }
}

/// Keys/values in `ours` that are not in `theirs` (ours must be a subset).
fn not_subset(ours: &Value, theirs: &Value, path: &str, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => not_subset(v, w, &p, out),
                    None => out.push(format!("{p} (added)")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                not_subset(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) if a.as_str().zip(b.as_str()).is_some_and(|(x, y)| x.eq_ignore_ascii_case(y)) => {}
        (a, b) => out.push(format!("{path}: {a} vs {b}")),
    }
}

struct Example {
    file: PathBuf,
    method: String,
    resource_type: String,
    api_version: String,
    body_param: Option<String>,
    json: Value,
}

/// Finds example files for the operations moat uses: the bundled ones
/// (`examples/<service>-<version>-<File>.json`) and, if `$MOAT_AZURE_EXAMPLES_DIR` is set,
/// `<dir>/<service>/<version>/examples/<File>.json` for every `x-ms-examples` reference.
fn examples() -> Vec<Example> {
    let s = specs();
    let bundled = s.root().join("examples");
    let extra = std::env::var_os("MOAT_AZURE_EXAMPLES_DIR").map(PathBuf::from);
    let mut out = Vec::new();
    for op in s.operations() {
        let Some(rt) = SpecSet::template_resource_type(op.path) else {
            continue;
        };
        if moat::azure::api_versions::for_type(&rt).is_none() || !op.path.contains("{resourceGroupName}") {
            continue;
        }
        let mut service = Path::new(op.file).components();
        let (Some(svc), Some(ver)) = (service.next(), service.next()) else {
            continue;
        };
        let (svc, ver) = (svc.as_os_str().to_string_lossy(), ver.as_os_str().to_string_lossy());
        let body_param = op
            .op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|p| {
                // Resolve "#/parameters/X" refs within the file for the body's name.
                let p = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) if r.starts_with("#/parameters/") => {
                        let name = &r["#/parameters/".len()..];
                        let doc: Value = serde_json::from_str(&std::fs::read_to_string(s.root().join(op.file)).ok()?).ok()?;
                        doc.get("parameters")?.get(name)?.clone()
                    }
                    _ => p.clone(),
                };
                (p.get("in")? == "body").then(|| p.get("name")?.as_str().map(str::to_string))?
            });
        for (_, ex) in op.op.get("x-ms-examples").and_then(Value::as_object).into_iter().flatten() {
            let Some(r) = ex.get("$ref").and_then(Value::as_str) else {
                continue;
            };
            let rel = r.trim_start_matches("./");
            let flat = rel.trim_start_matches("examples/").replace('/', "-");
            let mut candidates = vec![bundled.join(format!("{svc}-{ver}-{flat}"))];
            if let Some(d) = &extra {
                candidates.push(d.join(&*svc).join(&*ver).join(rel));
            }
            for c in candidates {
                if let Ok(text) = std::fs::read_to_string(&c) {
                    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", c.display()));
                    out.push(Example {
                        file: c,
                        method: op.method.clone(),
                        resource_type: rt.clone(),
                        api_version: op.api_version.to_string(),
                        body_param: body_param.clone(),
                        json,
                    });
                }
            }
        }
    }
    out
}

#[test]
fn spec_examples_pass_the_checker_and_deserialize_into_the_models() {
    let exs = examples();
    let bundled = exs.iter().filter(|e| e.file.starts_with(specs().root())).count();
    assert!(bundled >= 2, "expected the two bundled examples to be found, found {bundled}");
    let mut failures = String::new();
    let mut dropped = Vec::new();
    for ex in &exs {
        let name = ex.file.display().to_string();
        // Request body.
        if let Some(body) = ex.body_param.as_ref().and_then(|p| ex.json.pointer(&format!("/parameters/{p}"))) {
            let v = specs().check_request(&ex.method, &ex.resource_type, &ex.api_version, body);
            if !v.is_empty() {
                failures.push_str(&report(&format!("{name}: example request vs spec"), &v));
            }
            match request_model(&ex.method, &ex.resource_type, body) {
                Err(e) => failures.push_str(&format!("{name}: request does not deserialize: {e}\n")),
                Ok(ours) => {
                    let mut diff = Vec::new();
                    not_subset(&ours, body, "", &mut diff);
                    if !diff.is_empty() {
                        failures.push_str(&format!("{name}: model re-serialization invents or changes: {diff:?}\n"));
                    }
                    let mut lost = Vec::new();
                    not_subset(body, &ours, "", &mut lost);
                    let lost: Vec<String> = lost.into_iter().map(|l| l.replace(" (added)", "")).collect();
                    dropped.extend(lost.into_iter().map(|l| format!("{name}: {l}")));
                }
            }
        }
        // Response bodies.
        for (status, resp) in ex.json.get("responses").and_then(Value::as_object).into_iter().flatten() {
            let Some(body) = resp.get("body") else { continue };
            let v = specs().check_response_status(&ex.method, &ex.resource_type, &ex.api_version, status, body);
            if !v.is_empty() {
                failures.push_str(&report(&format!("{name}: example {status} response vs spec"), &v));
            }
            if !matches!(status.as_str(), "200" | "201") || ex.method == "delete" {
                continue;
            }
            match response_model(&ex.resource_type, body) {
                Err(e) => failures.push_str(&format!("{name}: {status} response does not deserialize: {e}\n")),
                Ok((ours, sendable)) => {
                    let mut diff = Vec::new();
                    not_subset(&ours, body, "", &mut diff);
                    if !diff.is_empty() {
                        failures.push_str(&format!("{name}: response round trip invents or changes: {diff:?}\n"));
                    }
                    if sendable {
                        let version = moat::azure::api_versions::for_type(&ex.resource_type).unwrap();
                        let v = specs().check_request("put", &ex.resource_type, version, &ours);
                        if !v.is_empty() {
                            failures.push_str(&report(&format!("{name}: GET→PUT round trip as a request"), &v));
                        }
                    }
                }
            }
        }
    }
    eprintln!("checked {} example file(s) ({bundled} bundled)", exs.len());
    for d in &dropped {
        eprintln!("not modelled (dropped on re-send): {d}");
    }
    assert!(failures.is_empty(), "{failures}");
}

// ---------------------------------------------------------------------------------------------
// (c) The checker catches mistakes on either side.

#[test]
fn checker_catches_misspelt_properties_on_both_sides() {
    let s = specs();
    // Client side: a model with a misspelt field name.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TypoProps {
        adress_prefix: String,
    }
    #[derive(Serialize)]
    struct TypoSubnet {
        properties: TypoProps,
    }
    let body = serde_json::to_value(TypoSubnet {
        properties: TypoProps {
            adress_prefix: "10.0.0.0/24".into(),
        },
    })
    .unwrap();
    let v = s.check_request("put", "Microsoft.Network/virtualNetworks/subnets", "2024-05-01", &body);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, ViolationKind::UnknownProperty);
    assert_eq!(v[0].path, "properties.adressPrefix");

    // Emulator side: a misspelt property deep in a response.
    let resp = json!({"id": format!("{SUB}/providers/Microsoft.Network/virtualNetworks/v"), "name": "v",
        "properties": {"provisioningState": "Succeeded", "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24", "privateEndpointNetworkPolicy": "Disabled"}}]}});
    let v = s.check_response("Microsoft.Network/virtualNetworks", &resp);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, "properties.subnets[0].properties.privateEndpointNetworkPolicy");

    // Through a discriminated subtype (AmlCompute under Compute).
    let compute = json!({"properties": {"computeType": "AmlCompute", "properties": {"vmSize": "x", "scaleSetings": {"maxNodeCount": 1}}}});
    let v = s.check_request("put", "Microsoft.MachineLearningServices/workspaces/computes", "2024-10-01", &compute);
    assert!(v.iter().any(|x| x.path == "properties.properties.scaleSetings" && x.kind == ViolationKind::UnknownProperty), "{v:?}");
    // The same body spelt right is clean.
    let good = json!({"properties": {"computeType": "AmlCompute", "properties": {"vmSize": "x", "scaleSettings": {"maxNodeCount": 1}}}});
    assert!(s.check_request("put", "Microsoft.MachineLearningServices/workspaces/computes", "2024-10-01", &good).is_empty());
}

#[test]
fn checker_catches_read_only_enum_type_and_required_violations() {
    let s = specs();
    let body = json!({"properties": {
        "priority": 100, "direction": "Sideways", "access": "Allow",
        "provisioningState": "Succeeded", "sourcePortRange": 22}});
    let v = s.check_request("put", "Microsoft.Network/networkSecurityGroups/securityRules", "2024-05-01", &body);
    let kinds: Vec<(ViolationKind, &str)> = v.iter().map(|x| (x.kind, x.path.as_str())).collect();
    assert!(kinds.contains(&(ViolationKind::EnumValue, "properties.direction")), "{v:?}");
    assert!(kinds.contains(&(ViolationKind::ReadOnlySent, "properties.provisioningState")), "{v:?}");
    assert!(kinds.contains(&(ViolationKind::WrongType, "properties.sourcePortRange")), "{v:?}");
    assert!(kinds.contains(&(ViolationKind::MissingRequired, "properties.protocol")), "{v:?}");
    // The same read-only property is fine in a response.
    let resp = json!({"name": "r", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "*", "provisioningState": "Succeeded"}});
    assert!(s.check_response("Microsoft.Network/networkSecurityGroups/securityRules", &resp).is_empty());
    // Storage bypass is a comma-separated flag set.
    let acl = json!({"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "Logging, Metrics, AzureServices"}}});
    assert!(s.check_request("patch", "Microsoft.Storage/storageAccounts", "2023-05-01", &acl).is_empty());
    let acl = json!({"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "Everything"}}});
    assert_eq!(s.check_request("patch", "Microsoft.Storage/storageAccounts", "2023-05-01", &acl).len(), 1);
    // Direction is honoured for definitions too.
    let v = s.check_definition("privatedns/2024-06-01/privatedns.json", "PrivateZone", &json!({"properties": {"numberOfRecordSets": 1}}), Direction::Request);
    assert_eq!(v.len(), 1, "{v:?}");
}

#[test]
fn spec_facts_the_client_relies_on() {
    let s = specs();
    // Network PUTs are LROs via Azure-AsyncOperation; deletes via Location.
    for t in [
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/virtualNetworks/subnets",
        "Microsoft.Network/networkSecurityGroups/securityRules",
        "Microsoft.Network/routeTables/routes",
    ] {
        let put = s.operation("put", t, "2024-05-01").unwrap();
        assert!(put.is_long_running());
        assert_eq!(put.final_state_via(), Some("azure-async-operation"), "{t}");
        assert_eq!(s.operation("delete", t, "2024-05-01").unwrap().final_state_via(), Some("location"), "{t}");
        // Network declares no If-Match: the client serialises per parent instead.
        assert!(!put.header_parameters(s).iter().any(|h| h.eq_ignore_ascii_case("If-Match")), "{t}");
    }
    // Private DNS declares If-Match / If-None-Match.
    let zone = s.operation("put", "Microsoft.Network/privateDnsZones", "2024-06-01").unwrap();
    let headers = zone.header_parameters(s);
    assert!(headers.iter().any(|h| h == "If-Match") && headers.iter().any(|h| h == "If-None-Match"), "{headers:?}");
    const { assert!(PrivateZone::SUPPORTS_IF_MATCH) };
    const { assert!(VirtualNetworkLink::SUPPORTS_IF_MATCH) };
    const { assert!(!Subnet::SUPPORTS_IF_MATCH) };
    // Storage create answers 202 (Location).
    assert!(s.operation("put", "Microsoft.Storage/storageAccounts", "2023-05-01").unwrap().status_codes().contains(&"202"));
    // Every type moat manages has a spec, except App Insights (and PE at 2024-05-01, served by 2024-07-01).
    let types = s.resource_types();
    for (t, v) in moat::azure::api_versions::TABLE {
        if t.starts_with("Microsoft.Insights") || t.starts_with("Microsoft.Resources") {
            assert!(!types.contains_key(*t), "{t} now has a spec: extend the conformance test");
            continue;
        }
        // A record set (`privateDnsZones/A`) is read at the spec's `{recordType}` path.
        if t.eq_ignore_ascii_case("Microsoft.Network/privateDnsZones/A") {
            let get = s.operations().into_iter().find(|o| o.method == "get" && o.api_version == *v && o.path.ends_with("/privateDnsZones/{privateZoneName}/{recordType}/{relativeRecordSetName}"));
            assert!(get.is_some(), "no record set GET at {v}");
            continue;
        }
        let versions = types.get(*t).unwrap_or_else(|| panic!("no spec for {t}"));
        if !versions.contains(*v) {
            eprintln!("note: {t} is used at {v} but the specs have {versions:?}");
        }
    }
}
