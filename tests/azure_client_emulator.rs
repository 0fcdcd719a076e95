//! The ARM client against the ARM emulator (src/emulator), with faults on.
//!
//! Time is injected: the client sleeps through a [`RecordingSleeper`], which records every wait
//! and returns at once, so `Retry-After` waits are asserted exactly without really sleeping.
#![cfg(feature = "emulator")]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use moat::azure::error::ArmErrorKind;
use moat::azure::models::common::{ManagedServiceIdentity, SubResource};
use moat::azure::models::containerregistry::*;
use moat::azure::models::insights::*;
use moat::azure::models::keyvault::*;
use moat::azure::models::ml::*;
use moat::azure::models::network::*;
use moat::azure::models::privatedns::*;
use moat::azure::models::storage::*;
use moat::azure::spec_check::SpecSet;
use moat::azure::{
    ArmClient, ArmClientConfig, ArmResource, AzureCloud, LroToken, PollStatus, RecordingSleeper, ResourceId, RetryPolicy,
    StaticToken, Submitted,
};
use moat::emulator::{EmulatorConfig, Fault, FaultRule, RunningEmulator, start};
use serde_json::{Value, json};
use url::Url;

const SUB: &str = "00000000-0000-0000-0000-0000000000aa";
const RG: &str = "rg-ml";
const TOKEN: &str = "emulator-token";

fn specs() -> &'static SpecSet {
    static SPECS: OnceLock<SpecSet> = OnceLock::new();
    SPECS.get_or_init(|| SpecSet::from_env().unwrap_or_else(|e| panic!("{e}")))
}

fn rid(rest: &str) -> ResourceId {
    ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/{rest}")).unwrap_or_else(|e| panic!("{e}"))
}

struct Env {
    emu: RunningEmulator,
    client: ArmClient,
    sleeper: Arc<RecordingSleeper>,
}

fn client_config(emu: &RunningEmulator) -> ArmClientConfig {
    ArmClientConfig {
        cloud: AzureCloud::emulator(Url::parse(&emu.base_url).unwrap()),
        trust: emu.trust(),
        retry: RetryPolicy {
            max_attempts: 10,
            max_elapsed: Duration::from_secs(3600),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn env_with(cfg: EmulatorConfig) -> Env {
    let emu = start(
        EmulatorConfig {
            require_token: Some(TOKEN.into()),
            ..cfg
        }
        .with_resource_group(SUB, RG),
    )
    .await
    .unwrap();
    let sleeper = Arc::new(RecordingSleeper::new());
    let client = ArmClient::with_sleeper(client_config(&emu), Arc::new(StaticToken::new(TOKEN)), sleeper.clone()).unwrap();
    Env { emu, client, sleeper }
}

async fn env() -> Env {
    env_with(EmulatorConfig {
        polls_to_complete: 1,
        retry_after_secs: 2,
        ..Default::default()
    })
    .await
}

fn fault(method: Option<&str>, resource_type: Option<&str>, path_contains: Option<&str>, fault: Fault, times: Option<u32>) -> FaultRule {
    FaultRule::new(method, resource_type, path_contains, fault, times)
}

fn tags() -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([("managed-by".to_string(), "moat".to_string())]))
}

/// Known deviations of the emulator from the bundled specs: `(resource type, path, kind)`.
/// Reported to the emulator's owner; listed so that any *new* deviation fails the test. An entry
/// that no longer occurs is reported on stderr so the list can shrink.
const KNOWN_EMULATOR_DEVIATIONS: &[(&str, &str)] = &[
    // `PrivateDnsZoneGroup` (network 2024-07-01) has id, name, etag, properties: no `type`.
    ("Microsoft.Network/privateEndpoints/privateDnsZoneGroups", "type"),
    // ML `PrivateEndpointConnectionProperties` has no `groupIds` in 2024-10-01.
    ("Microsoft.MachineLearningServices/workspaces", "properties.privateEndpointConnections[0].properties.groupIds"),
];

/// GETs `id` as raw JSON and checks it against the spec's GET schema; returns the violations
/// that are not known deviations, as readable lines.
async fn conformance_violations(client: &ArmClient, id: &ResourceId, seen_known: &mut Vec<(String, String)>) -> Vec<String> {
    let v = client.get_json(id).await.unwrap_or_else(|e| panic!("GET {id}: {e}"));
    let t = id.resource_type().into_owned();
    let mut out = Vec::new();
    for x in specs().check_response(&t, &v) {
        if KNOWN_EMULATOR_DEVIATIONS.iter().any(|(kt, kp)| *kt == t && *kp == x.path) {
            seen_known.push((t.clone(), x.path.clone()));
        } else {
            out.push(format!("{t}: {x}"));
        }
    }
    out
}

fn subnet(prefix: &str) -> Subnet {
    Subnet {
        properties: SubnetProperties {
            address_prefix: Some(prefix.into()),
            private_endpoint_network_policies: Some(PrivateEndpointNetworkPolicies::Disabled),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn vnet() -> VirtualNetwork {
    VirtualNetwork {
        location: Some("eastus".into()),
        tags: tags(),
        properties: VirtualNetworkProperties {
            address_space: Some(AddressSpace {
                address_prefixes: Some(vec!["10.10.0.0/16".into()]),
                ipam_pool_prefix_allocations: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn rule(priority: i32, dest: &str, ports: &[&str]) -> SecurityRule {
    let mut p = SecurityRuleProperties::new(
        priority,
        SecurityRuleDirection::Outbound,
        SecurityRuleAccess::Allow,
        SecurityRuleProtocol::Tcp,
    );
    p.source_address_prefix = Some("VirtualNetwork".into());
    p.source_port_range = Some("*".into());
    p.destination_address_prefix = Some(dest.into());
    p.destination_port_ranges = Some(ports.iter().map(|s| s.to_string()).collect());
    SecurityRule::new(p)
}

/// Builds the whole network-isolated workspace through the client, with throttling, server
/// errors, slow answers and AnotherOperationInProgress injected; every operation completes and
/// every resource the emulator returns conforms to the spec.
#[tokio::test]
async fn full_stack_converges_with_faults_on() {
    let Env { emu, client, sleeper } = env().await;
    let admin = &emu.admin;
    admin.set_faults(vec![
        // Throttle the first three writes of anything, with Retry-After 7.
        fault(Some("PUT"), None, None, Fault::Throttle { retry_after_seconds: 7, code: None }, Some(3)),
        // A 500 on two GETs (polls or reads).
        fault(
            Some("GET"),
            None,
            None,
            Fault::Error {
                status: 500,
                code: "InternalServerError".into(),
                message: "injected".into(),
            },
            Some(2),
        ),
        // 503 then AnotherOperationInProgress on subnet writes.
        fault(
            Some("PUT"),
            Some("Microsoft.Network/virtualNetworks/subnets"),
            None,
            Fault::Error {
                status: 503,
                code: "ServiceUnavailable".into(),
                message: "injected".into(),
            },
            Some(1),
        ),
        fault(
            Some("PUT"),
            Some("Microsoft.Network/virtualNetworks/subnets"),
            None,
            Fault::Error {
                status: 409,
                code: "AnotherOperationInProgress".into(),
                message: "Another operation on this or dependent resource is in progress.".into(),
            },
            Some(2),
        ),
        // Slow answers.
        fault(None, Some("Microsoft.Network/privateEndpoints"), None, Fault::Delay { millis: 30 }, Some(3)),
    ]);

    // Network.
    let vnet_id = rid("Microsoft.Network/virtualNetworks/vnet-ml");
    let v = client.put(&vnet_id, &vnet()).await.unwrap();
    assert_eq!(v.provisioning_state().map(|s| s.as_str()), Some("Succeeded"));
    // A 5xx answer to a write is not retried blindly: the write may have been applied, so the
    // client surfaces it and the caller reads back before deciding again (as the converger does).
    let lost = client
        .put_subnet(&vnet_id, "snet-pe", &subnet("10.10.1.0/24"))
        .await
        .expect_err("a 503 on a PUT is surfaced, not retried");
    assert!(lost.may_have_been_applied(), "{lost}");
    let seen: VirtualNetwork = client.get(&vnet_id).await.unwrap();
    let present = seen
        .properties
        .subnets
        .iter()
        .flatten()
        .any(|s| s.name.as_deref() == Some("snet-pe"));
    assert!(!present, "the injected 503 answered before the write was applied");
    let pe_subnet = client.put_subnet(&vnet_id, "snet-pe", &subnet("10.10.1.0/24")).await.unwrap();
    let compute_subnet = client.put_subnet(&vnet_id, "snet-compute", &subnet("10.10.2.0/24")).await.unwrap();
    assert_eq!(pe_subnet.properties.address_prefix.as_deref(), Some("10.10.1.0/24"));

    let nsg_id = rid("Microsoft.Network/networkSecurityGroups/nsg-compute");
    client
        .put(
            &nsg_id,
            &NetworkSecurityGroup {
                location: Some("eastus".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    client
        .put_security_rule(&nsg_id, "AllowAzureMLOut", &rule(120, "AzureMachineLearning", &["443", "8787", "18881"]))
        .await
        .unwrap();
    client
        .put_security_rule(&nsg_id, "AllowBatchOut", &rule(110, "BatchNodeManagement.eastus", &["443"]))
        .await
        .unwrap();

    let rt_id = rid("Microsoft.Network/routeTables/rt-compute");
    client
        .put(
            &rt_id,
            &RouteTable {
                location: Some("eastus".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    client
        .put_route(&rt_id, "AzureMLToInternet", &Route::new("AzureMachineLearning", RouteNextHopType::Internet, None))
        .await
        .unwrap();

    // Attach NSG and route table to the compute subnet by read-merge-write (keeps the rest).
    let compute_subnet_id = vnet_id.child("subnets", "snet-compute").unwrap();
    let merged = client
        .modify_put::<Subnet, _>(&compute_subnet_id, |cur| {
            let mut s = cur.cloned().unwrap_or_default();
            s.properties.network_security_group = Some(SubResource::new(nsg_id.clone()));
            s.properties.route_table = Some(SubResource::new(rt_id.clone()));
            s.properties.service_endpoints = Some(vec![ServiceEndpoint {
                service: Some("Microsoft.Storage".into()),
                ..Default::default()
            }]);
            Some(s)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merged.properties.address_prefix, compute_subnet.properties.address_prefix);
    assert_eq!(merged.properties.network_security_group.as_ref().map(|r| &r.id), Some(&nsg_id));

    // Dependencies.
    let sa_id = rid("Microsoft.Storage/storageAccounts/samlmoat");
    let sa = client
        .put(
            &sa_id,
            &StorageAccountCreate {
                sku: StorageSkuName::StandardLrs.into(),
                kind: StorageKind::StorageV2,
                location: "eastus".into(),
                tags: tags(),
                identity: None,
                properties: Some(StorageAccountWritableProperties {
                    public_network_access: Some(StoragePublicNetworkAccess::Disabled),
                    allow_blob_public_access: Some(false),
                    minimum_tls_version: Some(MinimumTlsVersion::Tls1_2),
                    network_acls: Some(NetworkRuleSet::new(DefaultAction::Deny)),
                    ..Default::default()
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(sa.name.as_deref(), Some("samlmoat"));
    let kv_id = rid("Microsoft.KeyVault/vaults/kv-ml-moat");
    let mut kvp = VaultProperties::new("72f988bf-0000-4000-8000-00000000e001", VaultSku::standard());
    kvp.enable_rbac_authorization = Some(true);
    kvp.public_network_access = Some("Disabled".into());
    kvp.network_acls = Some(VaultNetworkRuleSet {
        bypass: Some(VaultBypass::AzureServices),
        default_action: Some(DefaultAction::Deny),
        ..Default::default()
    });
    client
        .put(
            &kv_id,
            &VaultCreate {
                location: "eastus".into(),
                tags: tags(),
                properties: kvp,
            },
        )
        .await
        .unwrap();
    let acr_id = rid("Microsoft.ContainerRegistry/registries/acrmlmoat");
    client
        .put(
            &acr_id,
            &Registry::new(
                "eastus",
                RegistrySkuName::Premium,
                RegistryProperties {
                    admin_user_enabled: Some(false),
                    public_network_access: Some(EnabledDisabled::Disabled),
                    network_rule_bypass_options: Some(NetworkRuleBypassOptions::AzureServices),
                    ..Default::default()
                },
            ),
        )
        .await
        .unwrap();
    let ai_id = rid("Microsoft.Insights/components/ai-ml");
    client
        .put(
            &ai_id,
            &Component {
                location: Some("eastus".into()),
                kind: Some("web".into()),
                properties: ComponentProperties {
                    application_type: Some("web".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Workspace (202 + Location + Azure-AsyncOperation) and a compute cluster.
    let ws_id = rid("Microsoft.MachineLearningServices/workspaces/ws-ml");
    let ws = client
        .put(
            &ws_id,
            &Workspace {
                location: Some("eastus".into()),
                identity: Some(ManagedServiceIdentity::system_assigned()),
                properties: WorkspaceProperties {
                    storage_account: Some(sa_id.clone()),
                    key_vault: Some(kv_id.clone()),
                    container_registry: Some(acr_id.clone()),
                    application_insights: Some(ai_id.clone()),
                    public_network_access: Some(PublicNetworkAccess::Disabled),
                    image_build_compute: Some("cpu-cluster".into()),
                    managed_network: Some(ManagedNetworkSettings {
                        isolation_mode: Some(IsolationMode::Disabled),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ws.properties.storage_account.as_ref(), Some(&sa_id));
    let compute_id = ws_id.child("computes", "cpu-cluster").unwrap();
    let compute = client
        .put(
            &compute_id,
            &ComputeResource {
                location: Some("eastus".into()),
                properties: Some(Compute::aml_compute(AmlComputeProperties {
                    vm_size: Some("STANDARD_DS3_V2".into()),
                    scale_settings: Some(ScaleSettings {
                        max_node_count: 4,
                        min_node_count: Some(0),
                        node_idle_time_before_scale_down: Some("PT120S".into()),
                    }),
                    subnet: Some(compute_subnet_id.clone().into()),
                    enable_node_public_ip: Some(false),
                    ..Default::default()
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(compute.aml_compute().and_then(|c| c.enable_node_public_ip), Some(false));
    client
        .patch(
            &compute_id,
            &ClusterUpdate::scale(ScaleSettings {
                max_node_count: 2,
                min_node_count: Some(0),
                node_idle_time_before_scale_down: None,
            }),
        )
        .await
        .unwrap();

    // Private endpoint, DNS zone (ETag), link and zone group.
    let pe_id = rid("Microsoft.Network/privateEndpoints/pe-ws");
    let pe = client
        .put(
            &pe_id,
            &PrivateEndpoint {
                location: Some("eastus".into()),
                properties: PrivateEndpointProperties {
                    subnet: Some(SubResource::new(vnet_id.child("subnets", "snet-pe").unwrap())),
                    private_link_service_connections: Some(vec![PrivateLinkServiceConnection {
                        name: Some("ws".into()),
                        properties: PrivateLinkServiceConnectionProperties {
                            private_link_service_id: Some(ws_id.clone()),
                            group_ids: Some(vec!["amlworkspace".into()]),
                            ..Default::default()
                        },
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(pe.is_ready(), "{pe:#?}");
    let zone_id = rid("Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms");
    client.put(&zone_id, &PrivateZone::new(tags())).await.unwrap();
    let link = client
        .put(
            &zone_id.child("virtualNetworkLinks", "vnet-ml").unwrap(),
            &VirtualNetworkLink::new(vnet_id.clone(), false, None),
        )
        .await
        .unwrap();
    assert!(link.is_completed(), "{link:#?}");
    let zg_id = pe_id.child("privateDnsZoneGroups", "default").unwrap();
    client
        .put(
            &zg_id,
            &PrivateDnsZoneGroup {
                properties: PrivateDnsZoneGroupProperties {
                    private_dns_zone_configs: Some(vec![PrivateDnsZoneConfig {
                        name: Some("api".into()),
                        properties: PrivateDnsZoneConfigProperties {
                            private_dns_zone_id: Some(zone_id.clone()),
                            record_sets: None,
                        },
                    }]),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Storage firewall by read-merge-write PATCH: add a subnet rule, keep what is there.
    let sa = client
        .modify_patch::<StorageAccountUpdate, _>(&sa_id, |cur| {
            let mut rules = cur.properties.network_acls.clone().unwrap_or(NetworkRuleSet::new(DefaultAction::Deny));
            rules.bypass = Some("AzureServices".into());
            rules.virtual_network_rules.get_or_insert_with(Vec::new).push(StorageVirtualNetworkRule {
                id: compute_subnet_id.clone(),
                action: Some("Allow".into()),
                state: None,
            });
            Some(StorageAccountUpdate::network_acls(rules))
        })
        .await
        .unwrap();
    let acls = sa.properties.network_acls.unwrap();
    assert_eq!(acls.default_action, DefaultAction::Deny);
    assert_eq!(acls.virtual_network_rules.unwrap().len(), 1);

    // Lists follow nextLink.
    let subnets = client.list::<Subnet>(&vnet_id).await.unwrap();
    assert_eq!(subnets.len(), 2);
    let rules = client.list::<SecurityRule>(&nsg_id).await.unwrap();
    assert_eq!(rules.len(), 2);

    // Every fault fired; all but the 503 on a write (surfaced above, then read back) were
    // absorbed by retries; waits honoured Retry-After.
    let faults = admin.faults();
    assert!(faults.iter().all(|f| f.fired > 0), "{faults:#?}");
    assert!(
        faults.iter().filter(|f| !matches!(f.fault, Fault::Delay { .. })).all(|f| f.times.is_none_or(|t| f.fired == t)),
        "{faults:#?}"
    );
    let stats = client.stats();
    assert!(stats.retries >= 3 + 2 + 2, "{stats:?}");
    assert!(stats.throttled >= 3, "{stats:?}");
    let sleeps = sleeper.sleeps();
    assert_eq!(sleeps.iter().filter(|d| **d == Duration::from_secs(7)).count(), 3, "{sleeps:?}");
    assert!(sleeps.iter().any(|d| *d == Duration::from_secs(2)), "LRO Retry-After 2 s was not honoured: {sleeps:?}");
    let rl = client.rate_limits(SUB).expect("x-ms-ratelimit-remaining-* headers were observed");
    assert!(rl.remaining.contains_key("subscription-reads") && rl.remaining.contains_key("subscription-writes"), "{rl:?}");

    // Every resource the emulator returns conforms to the spec (App Insights: no spec bundled).
    let mut violations = Vec::new();
    let mut seen_known = Vec::new();
    for id in [
        &vnet_id,
        &vnet_id.child("subnets", "snet-pe").unwrap(),
        &compute_subnet_id,
        &nsg_id,
        &nsg_id.child("securityRules", "AllowAzureMLOut").unwrap(),
        &rt_id,
        &rt_id.child("routes", "AzureMLToInternet").unwrap(),
        &pe_id,
        &zg_id,
        &zone_id,
        &zone_id.child("virtualNetworkLinks", "vnet-ml").unwrap(),
        &ws_id,
        &compute_id,
        &sa_id,
        &kv_id,
        &acr_id,
    ] {
        violations.extend(conformance_violations(&client, id, &mut seen_known).await);
    }
    for (t, p) in KNOWN_EMULATOR_DEVIATIONS {
        if !seen_known.iter().any(|(st, sp)| st == t && sp == p) {
            eprintln!("known emulator deviation no longer seen, remove it from the list: {t} {p}");
        }
    }
    assert!(violations.is_empty(), "emulator responses violate the specs:\n{}", violations.join("\n"));

    // Tear down (children before parents; 202 + Location polls).
    for id in [&zg_id, &pe_id, &compute_id, &ws_id] {
        client.delete(id).await.unwrap_or_else(|e| panic!("DELETE {id}: {e}"));
        assert!(client.get_json(id).await.unwrap_err().is_not_found());
    }
    // Deleting something absent succeeds.
    client.delete(&pe_id).await.unwrap();
}

/// The waits the client asks for are exactly the server's Retry-After, clamped to [1 s, 600 s].
#[tokio::test]
async fn waits_equal_retry_after_clamped() {
    let Env { emu, client, sleeper } = env_with(EmulatorConfig {
        polls_to_complete: 2,
        retry_after_secs: 4,
        ..Default::default()
    })
    .await;
    let vnet_id = rid("Microsoft.Network/virtualNetworks/vnet-wait");
    emu.admin.set_faults(vec![fault(
        Some("PUT"),
        Some("Microsoft.Network/virtualNetworks"),
        None,
        Fault::Throttle {
            retry_after_seconds: 3,
            code: None,
        },
        Some(2),
    )]);
    client.put(&vnet_id, &vnet()).await.unwrap();
    // 2 throttles (3 s), then the LRO (in progress for 2 polls, done on the 3rd): a 4 s wait
    // before each poll.
    assert_eq!(
        sleeper.sleeps(),
        vec![
            Duration::from_secs(3),
            Duration::from_secs(3),
            Duration::from_secs(4),
            Duration::from_secs(4),
            Duration::from_secs(4)
        ]
    );

    // Clamping: Retry-After 0 becomes 1 s; 100000 s becomes 600 s.
    sleeper.clear();
    emu.admin.update_config(&serde_json::from_value(json!({"retryAfterSecs": 0, "pollsToComplete": 1})).unwrap());
    emu.admin.set_faults(vec![fault(
        Some("PUT"),
        Some("Microsoft.Network/virtualNetworks/subnets"),
        None,
        Fault::Throttle {
            retry_after_seconds: 100_000,
            code: None,
        },
        Some(1),
    )]);
    client.put_subnet(&vnet_id, "a", &subnet("10.10.5.0/24")).await.unwrap();
    // 429 → 600 s (clamped), then Retry-After 0 → 1 s before each of the two polls.
    assert_eq!(
        sleeper.sleeps(),
        vec![Duration::from_secs(600), Duration::from_secs(1), Duration::from_secs(1)]
    );
}

/// A failed long-running operation is a clear error naming the code and message, for the
/// Azure-AsyncOperation style (Network) and the Location style (Storage).
#[tokio::test]
async fn failed_lro_is_a_clear_error() {
    let Env { emu, client, .. } = env().await;
    let vnet_id = rid("Microsoft.Network/virtualNetworks/vnet-fail");
    client.put(&vnet_id, &vnet()).await.unwrap();
    emu.admin.set_faults(vec![fault(
        Some("PUT"),
        Some("Microsoft.Network/virtualNetworks/subnets"),
        None,
        Fault::FailLro {
            code: "NetcfgSubnetRangeOutsideVnet".into(),
            message: "Subnet 'bad' is not valid because its IP address range is outside the IP address range of virtual network 'vnet-fail'.".into(),
            status: None,
        },
        Some(1),
    )]);
    let err = client.put_subnet(&vnet_id, "bad", &subnet("10.10.9.0/24")).await.unwrap_err();
    assert!(err.is_operation_failure(), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.code(), Some("NetcfgSubnetRangeOutsideVnet"));
    let msg = err.to_string();
    assert!(
        msg.contains("PUT of /subscriptions/") && msg.contains("/subnets/bad failed: NetcfgSubnetRangeOutsideVnet: Subnet 'bad'"),
        "{msg}"
    );

    // Location-polled (storage create answers 202 + Location).
    emu.admin.set_faults(vec![fault(
        Some("PUT"),
        Some("Microsoft.Storage/storageAccounts"),
        None,
        Fault::FailLro {
            code: "StorageAccountCreationFailed".into(),
            message: "quota".into(),
            status: Some(409),
        },
        Some(1),
    )]);
    let err = client
        .put(
            &rid("Microsoft.Storage/storageAccounts/safail"),
            &StorageAccountCreate {
                sku: StorageSkuName::StandardLrs.into(),
                kind: StorageKind::StorageV2,
                location: "eastus".into(),
                tags: None,
                identity: None,
                properties: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ArmErrorKind::LroFailed { .. }), "{err:?}");
    assert_eq!(err.code(), Some("StorageAccountCreationFailed"));
    assert!(err.to_string().contains("quota"), "{err}");

    // A synchronous ARM error keeps the body (code, message) and the request id.
    let err = client.get::<Subnet>(&vnet_id.child("subnets", "nope").unwrap()).await.unwrap_err();
    assert!(err.is_not_found());
    assert!(err.code().is_some(), "{err:?}");
    match err.kind() {
        ArmErrorKind::Http { request_id, error, .. } => {
            assert!(request_id.is_some());
            assert!(!error.as_ref().unwrap().message.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

/// Step-wise polling and resuming from a token saved as JSON (a restart in between).
#[tokio::test]
async fn operations_resume_from_a_saved_token() {
    let Env { emu, client, .. } = env_with(EmulatorConfig {
        polls_to_complete: 2,
        retry_after_secs: 5,
        ..Default::default()
    })
    .await;
    let vnet_id = rid("Microsoft.Network/virtualNetworks/vnet-resume");
    let Submitted::Pending { token, retry_after } = client.begin_put(&vnet_id, &vnet()).await.unwrap() else {
        panic!("expected a pending operation");
    };
    assert_eq!(retry_after, Duration::from_secs(5));
    assert_eq!(token.url_kind, moat::azure::PollUrlKind::AzureAsyncOperation);
    // One step: still running.
    let PollStatus::Pending { retry_after, token } = client.poll_once::<VirtualNetwork>(&token).await.unwrap() else {
        panic!("expected pending");
    };
    assert_eq!(retry_after, Duration::from_secs(5));

    // "Restart": the token goes through the CR status as JSON; a new client resumes it.
    let saved = serde_json::to_string(&token).unwrap();
    drop(client);
    let sleeper = Arc::new(RecordingSleeper::new());
    let client2 = ArmClient::with_sleeper(client_config(&emu), Arc::new(StaticToken::new(TOKEN)), sleeper.clone()).unwrap();
    let token: LroToken = serde_json::from_str(&saved).unwrap();
    let v: VirtualNetwork = client2.resume(token).await.unwrap().unwrap();
    assert_eq!(v.provisioning_state().map(|s| s.as_str()), Some("Succeeded"));
    assert_eq!(v.id.as_ref(), Some(&vnet_id));
    // Resume polls at once (2nd poll: still running), then waits Retry-After once (3rd: done).
    assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(5)]);

    // A DELETE resumed the same way.
    let Submitted::Pending { token, .. } = client2.begin_delete(&vnet_id).await.unwrap() else {
        panic!("expected a pending delete");
    };
    let token: LroToken = serde_json::from_value(serde_json::to_value(&token).unwrap()).unwrap();
    let mut token = token;
    let mut steps = 0;
    loop {
        steps += 1;
        match client2.poll_once::<Value>(&token).await.unwrap() {
            PollStatus::Pending { token: t, .. } => token = t,
            PollStatus::Done(none) => {
                assert!(none.is_none());
                break;
            }
            PollStatus::Failed(e) => panic!("{e}"),
        }
        assert!(steps < 10);
    }
    assert!(client2.get_json(&vnet_id).await.unwrap_err().is_not_found());

    // A tampered token pointing elsewhere is refused before any credential is sent.
    let mut evil: LroToken = serde_json::from_str(&saved).unwrap();
    evil.status_url = "http://evil.example/steal".into();
    let err = client2.poll_once::<Value>(&evil).await.unwrap_err();
    assert!(matches!(err.kind(), ArmErrorKind::UntrustedUrl { .. }), "{err:?}");
}

/// A VNet PUT never drops a subnet, even one moat did not create.
#[tokio::test]
async fn vnet_put_keeps_existing_subnets() {
    let Env { emu, client, .. } = env_with(EmulatorConfig {
        polls_to_complete: 0,
        retry_after_secs: 0,
        ..Default::default()
    })
    .await;
    let vnet_id = rid("Microsoft.Network/virtualNetworks/vnet-keep");
    client.put(&vnet_id, &vnet()).await.unwrap();
    client.put_subnet(&vnet_id, "ours", &subnet("10.10.1.0/24")).await.unwrap();
    // Someone else adds a subnet, with a delegation we do not model in detail.
    let foreign = json!({"properties": {"addressPrefix": "10.10.7.0/24",
        "delegations": [{"name": "aci", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}]}});
    emu.admin
        .put_resource(vnet_id.child("subnets", "theirs").unwrap().as_str(), foreign, Some("Succeeded"))
        .unwrap();
    // Re-PUT the VNet with new tags and no subnets in the body.
    let mut body = vnet();
    body.tags = Some(BTreeMap::from([("env".to_string(), "test".to_string())]));
    let v = client.put(&vnet_id, &body).await.unwrap();
    let names: Vec<String> = v.properties.subnets.iter().flatten().filter_map(|s| s.name.clone()).collect();
    assert!(names.contains(&"ours".to_string()) && names.contains(&"theirs".to_string()), "{names:?}");
    let theirs = client.get::<Subnet>(&vnet_id.child("subnets", "theirs").unwrap()).await.unwrap();
    assert_eq!(
        theirs.properties.delegations.as_ref().and_then(|d| d[0].properties.service_name.as_deref()),
        Some("Microsoft.ContainerInstance/containerGroups")
    );
    // The NSG and route table PUTs keep their rules and routes the same way.
    let nsg_id = rid("Microsoft.Network/networkSecurityGroups/nsg-keep");
    let empty_nsg = NetworkSecurityGroup {
        location: Some("eastus".into()),
        ..Default::default()
    };
    client.put(&nsg_id, &empty_nsg).await.unwrap();
    client.put_security_rule(&nsg_id, "r1", &rule(200, "Storage.eastus", &["443"])).await.unwrap();
    let nsg = client.put(&nsg_id, &empty_nsg).await.unwrap();
    assert_eq!(nsg.properties.security_rules.map(|r| r.len()), Some(1));
}

/// Private DNS read-merge-write uses ETags: a concurrent change makes the PUT fail with 412 and
/// the cycle re-reads and retries.
#[tokio::test]
async fn private_dns_read_merge_write_uses_if_match() {
    let Env { emu, client, .. } = env_with(EmulatorConfig {
        polls_to_complete: 0,
        retry_after_secs: 0,
        ..Default::default()
    })
    .await;
    let zone_id = rid("Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net");
    client.put(&zone_id, &PrivateZone::new(None)).await.unwrap();
    let before = client.get::<PrivateZone>(&zone_id).await.unwrap();
    assert!(before.etag.is_some());
    let mut calls = 0;
    let admin = emu.admin.clone();
    let zone_str = zone_id.to_string();
    let out = client
        .modify_put::<PrivateZone, _>(&zone_id, |cur| {
            calls += 1;
            if calls == 1 {
                // A concurrent writer changes the zone between our GET and our PUT.
                admin.patch_resource(&zone_str, json!({"tags": {"owner": "someone-else"}}), None).unwrap();
            }
            let mut z = cur.cloned().unwrap_or_default();
            z.tags.get_or_insert_with(BTreeMap::new).insert("managed-by".into(), "moat".into());
            Some(z)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(calls, 2);
    let tags = out.tags.unwrap();
    assert_eq!(tags.get("owner").map(String::as_str), Some("someone-else"));
    assert_eq!(tags.get("managed-by").map(String::as_str), Some("moat"));
    let log = emu.admin.requests(None);
    let statuses: Vec<u16> = log.entries.iter().filter(|e| e.method == "PUT").map(|e| e.status).collect();
    assert!(statuses.contains(&412), "{statuses:?}");
    // No change: no write.
    let puts_before = statuses.len();
    client.modify_put::<PrivateZone, _>(&zone_id, |cur| cur.cloned()).await.unwrap();
    let puts_after = emu.admin.requests(None).entries.iter().filter(|e| e.method == "PUT").count();
    assert_eq!(puts_before, puts_after);
}

/// Requests per subscription are bounded; the bound does not leak across subscriptions.
#[tokio::test]
async fn concurrency_is_bounded_per_subscription() {
    let Env { emu, .. } = env().await;
    let mut cfg = client_config(&emu);
    cfg.max_concurrency_per_subscription = 2;
    let client = ArmClient::new(cfg, Arc::new(StaticToken::new(TOKEN))).unwrap();
    emu.admin.set_faults(vec![fault(Some("GET"), None, None, Fault::Delay { millis: 100 }, None)]);
    let ids: Vec<ResourceId> = (0..8).map(|i| rid(&format!("Microsoft.Network/virtualNetworks/v{i}"))).collect();
    let t0 = Instant::now();
    let results = futures::future::join_all(ids.iter().map(|id| client.get_opt::<VirtualNetwork>(id))).await;
    let elapsed = t0.elapsed();
    assert!(results.iter().all(|r| matches!(r, Ok(None))));
    // 8 requests, 2 at a time, 100 ms each: at least 4 rounds.
    assert!(elapsed >= Duration::from_millis(390), "{elapsed:?}");
}

/// Credentials: a wrong token is an authentication error (refreshed once, then surfaced).
#[tokio::test]
async fn wrong_token_is_surfaced() {
    let Env { emu, .. } = env().await;
    let client = ArmClient::new(client_config(&emu), Arc::new(StaticToken::new("wrong"))).unwrap();
    let err = client.get::<VirtualNetwork>(&rid("Microsoft.Network/virtualNetworks/x")).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.code().is_some());
    // The token never appears in the error.
    assert!(!format!("{err} {err:?}").contains("wrong"));
    let sent = emu.admin.requests(None).entries.len();
    assert_eq!(sent, 2, "one refresh, then give up");
}

/// Typed calls refuse an id of another type (a wrong api-version would be sent otherwise).
#[tokio::test]
async fn typed_calls_check_the_id_type() {
    let Env { client, .. } = env().await;
    let err = client
        .get::<Subnet>(&rid("Microsoft.Network/virtualNetworks/v"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is a Microsoft.Network/virtualNetworks, not a Microsoft.Network/virtualNetworks/subnets"), "{err}");
    assert_eq!(Subnet::API_VERSION, "2024-05-01");
}

/// The client's clock is the emulator's rate-limit clock: the client's waits move both, so
/// pacing is checked against ARM's enforced limits in virtual time, without sleeping.
struct SharedClock(moat::emulator::Clock);

#[async_trait::async_trait]
impl moat::azure::Sleeper for SharedClock {
    async fn sleep(&self, d: Duration) {
        self.0.advance(d);
        tokio::task::yield_now().await;
    }
    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// 600 reads (550 of one privatelink zone: Private DNS allows 500 GETs in 5 minutes) and 220
/// writes, one after another, against the public cloud's limits enforced. Returns the 429s
/// ARM answered, the client's stats and the virtual time taken.
async fn burst(pacing: bool) -> (u64, moat::azure::ClientStats, Duration) {
    let clock = moat::emulator::Clock::manual();
    let emu = start(
        EmulatorConfig { polls_to_complete: 0, retry_after_secs: 0, require_token: Some(TOKEN.into()), clock: clock.clone(), ..EmulatorConfig::for_tests() }
            .enforcing(moat::emulator::ThrottleModel::Regional)
            .with_resource_group(SUB, RG),
    )
    .await
    .unwrap();
    let mut config = client_config(&emu);
    config.pacing.enabled = pacing;
    let sleeper = Arc::new(SharedClock(clock.clone()));
    let client = ArmClient::with_sleeper(config, Arc::new(StaticToken::new(TOKEN)), sleeper).unwrap();
    let t0 = clock.now();
    let zone = rid("Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms");
    client.begin_write_json(moat::azure::LroOperation::Put, &zone, Some(&json!({"location": "global"}))).await.unwrap();
    let vnet = rid("Microsoft.Network/virtualNetworks/absent");
    for i in 0..600 {
        if i % 12 == 11 {
            assert!(client.get_opt::<VirtualNetwork>(&vnet).await.unwrap().is_none());
        } else {
            client.get_json(&zone).await.unwrap();
        }
    }
    for i in 0..219 {
        let id = rid(&format!("Microsoft.Storage/storageAccounts/st{i:03}"));
        client.begin_write_json(moat::azure::LroOperation::Put, &id, Some(&json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}))).await.unwrap();
    }
    let throttled: u64 = emu.admin.rate_stats().throttled.values().sum();
    (throttled, client.stats(), clock.now() - t0)
}

#[tokio::test]
async fn pacing_keeps_the_client_under_arms_limits() {
    let (throttled, stats, took) = burst(true).await;
    assert_eq!(throttled, 0, "paced: ARM never had to say 429 ({stats:?})");
    assert_eq!(stats.throttled, 0);
    assert!(stats.paced > 0 && stats.paced_wait_ms > 0, "{stats:?}");
    // Private DNS's 5-minute window is what it waited for: 550 zone GETs need a second window.
    assert!(took >= Duration::from_secs(300) && took < Duration::from_secs(330), "{took:?}");
    // The same burst unpaced runs into 429s (absorbed by retries): the test can fail.
    let (throttled, stats, _) = burst(false).await;
    assert!(throttled > 0 && stats.throttled == throttled && stats.paced == 0, "{throttled} {stats:?}");
}
